// Build-time Pyodide memory snapshot (docs/architecture.md), run by tools/build_web.py under Node:
//
//   node web/tools/snapshot.mjs WHEEL OUT
//
// Loads Pyodide with _makeSnapshot, installs the wheel (vault_core and vault_web),
// imports everything the session needs, and writes makeMemorySnapshot() to OUT. No JS
// object is bound before the snapshot (libsodium.js and Argon2 are bound in the worker
// after loading), so the snapshot holds only Python state.
import fs from "node:fs";

const [wheel, out] = process.argv.slice(2);
if (!wheel || !out) {
  process.stderr.write("usage: snapshot.mjs WHEEL OUT\n");
  process.exit(2);
}
globalThis.fetch = async (url) => {
  throw new Error(`snapshot: network fetch refused: ${url}`);
};
const { loadPyodide } = await import("pyodide");
const pyodide = await loadPyodide({ _makeSnapshot: true, stdout: () => {}, stderr: () => {} });
const site = pyodide.runPython("import site; site.getsitepackages()[0]");
pyodide.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "wheel", { extractDir: site });
// Everything the worker will import, so none of it is read or compiled at page load.
pyodide.runPython(`
import vault_web.worker_vault, vault_web.strength, vault_core, vault_core.backend.pyodide, pyodide.ffi
import base64, hmac, json, unicodedata, uuid, dataclasses, importlib, contextlib
`);
fs.writeFileSync(out, pyodide.makeMemorySnapshot());
