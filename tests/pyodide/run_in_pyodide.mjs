// Runs Python inside real Pyodide (from node_modules), with libsodium.js bound
// the way the web worker binds it, and the vault_core wheel installed offline.
//
//   node tests/pyodide/run_in_pyodide.mjs --wheel dist/vault_core-X-py3-none-any.whl
//
// Protocol: one JSON request per line on stdin, one JSON response per line on
// stdout (Python's own stdout/stderr go to our stderr so they cannot corrupt
// it). The first line written is {"ready": true, ...} once Pyodide is loaded.
// Requests are handled by _zk_dispatch in harness_boot.py; see pyodide_harness.py.
//
// Exits 2 with a one-line reason when node_modules or the wheel is missing:
// the test suite must fail, never skip, when Pyodide cannot run.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");

function die(message) {
  process.stderr.write(`run_in_pyodide: ${message}\n`);
  process.exit(2);
}

function argValue(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const wheel = argValue("--wheel");
if (!wheel || !fs.existsSync(wheel)) die(`--wheel FILE is required and must exist (got ${wheel})`);
for (const pkg of ["pyodide", "libsodium-wrappers-sumo", "@phi-ag/argon2"]) {
  if (!fs.existsSync(path.join(root, "node_modules", pkg, "package.json"))) {
    die(`node_modules/${pkg} is missing: run scripts/bootstrap.sh (npm ci)`);
  }
}

// Node prints the (minified, megabyte-long) source line of an uncaught error:
// report the message and stack instead.
const fail = (err) => {
  process.stderr.write(`run_in_pyodide: ${err?.stack ?? err}\n`);
  process.exit(1);
};
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);

// Pyodide must never reach for a CDN: any network fetch is an error here.
globalThis.fetch = async (url) => {
  throw new Error(`run_in_pyodide: network fetch refused: ${url}`);
};

const { loadPyodide } = await import("pyodide");
const { bindCrypto } = await import("./bind_crypto.mjs");

const log = (msg) => process.stderr.write(`${msg}\n`);
const t0 = performance.now();
const pyodide = await loadPyodide({ stdout: log, stderr: log });
const loadMs = performance.now() - t0;

// Bound after loading, as the web worker does (nothing JS in a snapshot).
const { default: sodium } = await import("libsodium-wrappers-sumo");
const argon2Wasm = process.argv.includes("--no-argon2-module")
  ? undefined
  : fs.readFileSync(path.join(root, "node_modules", "@phi-ag", "argon2", "dist", "argon2.wasm"));
const bound = await bindCrypto(pyodide, { sodium, argon2Wasm });

const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
pyodide.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "wheel", { extractDir: sitePackages });
pyodide.runPython(fs.readFileSync(path.join(here, "harness_boot.py"), "utf8"));
const dispatch = pyodide.globals.get("_zk_dispatch");

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
out({ ready: true, load_ms: loadMs, node: process.version, bound });

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let response;
  try {
    response = dispatch(line);
  } catch (err) {
    // Only a harness bug lands here: _zk_dispatch reports Python errors itself.
    response = JSON.stringify({ ok: false, error: "HarnessError", message: String(err) });
  }
  process.stdout.write(`${response}\n`);
}
