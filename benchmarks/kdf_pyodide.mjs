// Node entry for benchmarks/kdf.py: Argon2id candidates inside Pyodide under Node.
//   node benchmarks/kdf_pyodide.mjs --wheel WHEEL
// Prints {"ready": ..., "names": [...]} once set up, then answers each candidate name
// read from stdin (one per line) with one JSON line {"ms": ..., "hex": ...}.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { setupKdfBench } from "./kdf_core.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const i = process.argv.indexOf("--wheel");
const wheel = i >= 0 ? process.argv[i + 1] : undefined;
if (!wheel || !fs.existsSync(wheel)) {
  process.stderr.write("kdf_pyodide: --wheel FILE is required\n");
  process.exit(2);
}
globalThis.fetch = async (url) => { throw new Error(`network fetch refused: ${url}`); };

const { loadPyodide } = await import("pyodide");
const { default: sodium } = await import("libsodium-wrappers-sumo");
const argon2Wasm = fs.readFileSync(path.join(root, "node_modules/@phi-ag/argon2/dist/argon2.wasm"));

async function optionalExtras() {
  const extras = {};
  try { extras.hashWasm = await import("hash-wasm"); } catch { /* not installed */ }
  try {
    const { default: setupWasm } = await import("argon2id/lib/setup.js");
    const dist = path.join(root, "node_modules/argon2id/dist");
    extras.openpgpArgon2id = await setupWasm(
      (io) => WebAssembly.instantiate(fs.readFileSync(path.join(dist, "simd.wasm")), io),
      (io) => WebAssembly.instantiate(fs.readFileSync(path.join(dist, "no-simd.wasm")), io));
  } catch { /* not installed */ }
  return extras;
}

const log = (msg) => process.stderr.write(`${msg}\n`);
const pyodide = await loadPyodide({ stdout: log, stderr: log });
const site = pyodide.runPython("import site; site.getsitepackages()[0]");
pyodide.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "wheel", { extractDir: site });
const bench = await setupKdfBench({ pyodide, sodium, argon2Wasm, extras: await optionalExtras() });
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
say({ ready: true, runtime: `Node ${process.version}`, names: bench.names });
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    say(await bench.once(line.trim()));
  } catch (err) {
    say({ error: String(err?.stack ?? err) });
  }
}
