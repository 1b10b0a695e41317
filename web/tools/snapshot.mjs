// Build-time Pyodide memory snapshot (docs/architecture.md), run by tools/build_web.py under Node:
//
//   node web/tools/snapshot.mjs WHEEL OUT
//
// Loads Pyodide with _makeSnapshot, installs the wheel (vault_core and vault_web),
// imports everything the session needs, and writes makeMemorySnapshot() to OUT. No JS
// object is bound before the snapshot (libsodium.js and Argon2 are bound in the worker
// after loading), so the snapshot holds only Python state.
//
// Reproducible: the same wheel and Pyodide give the same bytes, so that anyone holding the
// source can rebuild the snapshot and compare it with what a server serves (`zkvault web
// verify`, docs/threat-model.md). Three inputs would otherwise differ on every run: the
// hash seed (PYTHONHASHSEED=0), the entropy Pyodide draws while starting (from a fixed
// SHA-256 counter stream here) and the clock (file times, import caches: a counter
// from a fixed instant). This costs nothing the snapshot did not already give away:
// whatever Python state it holds is public, as the snapshot itself is. Only this build
// process is affected; in the browser the worker draws real entropy and reads the real
// clock (vault_core's keys and nonces come from libsodium.js at run time).
import fs from "node:fs";
import nodeCrypto from "node:crypto";

const [wheel, out] = process.argv.slice(2);
if (!wheel || !out) {
  process.stderr.write("usage: snapshot.mjs WHEEL OUT\n");
  process.exit(2);
}
globalThis.fetch = async (url) => {
  throw new Error(`snapshot: network fetch refused: ${url}`);
};
let drawn = 0;
function fixedEntropy(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let off = 0; off < bytes.length; drawn += 1) {
    const block = nodeCrypto.createHash("sha256").update(`zkvault-snapshot:${drawn}`).digest();
    const n = Math.min(block.length, bytes.length - off);
    bytes.set(block.subarray(0, n), off);
    off += n;
  }
  return view;
}
nodeCrypto.randomFillSync = fixedEntropy; // Emscripten's entropy under Node
globalThis.crypto.getRandomValues = fixedEntropy;
let now = Date.UTC(2026, 0, 1); // every reading one millisecond later than the last
Date.now = () => (now += 1);
let monotonic = 0;
performance.now = () => (monotonic += 1);
const { loadPyodide } = await import("pyodide");
const pyodide = await loadPyodide({
  _makeSnapshot: true,
  env: { PYTHONHASHSEED: "0" },
  stdout: () => {},
  stderr: () => {},
});
const site = pyodide.runPython("import site; site.getsitepackages()[0]");
pyodide.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "wheel", { extractDir: site });
// Everything the worker will import, so none of it is read or compiled at page load.
pyodide.runPython(`
import vault_web.worker_vault, vault_web.strength, vault_core, vault_core.backend.pyodide, pyodide.ffi
import base64, hmac, json, unicodedata, uuid, dataclasses, importlib, contextlib
`);
fs.writeFileSync(out, pyodide.makeMemorySnapshot());
