// Chromium entry: sets window.kdfBench = {names, once(name)} for kdf.py (or window.kdfError).
import { loadPyodide } from "/node_modules/pyodide/pyodide.mjs";
import sodium from "libsodium-wrappers-sumo";
import { setupKdfBench } from "./kdf_core.mjs";

const params = new URLSearchParams(location.search);
const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());

async function optionalExtras() {
  const extras = {};
  if (params.get("hash-wasm")) extras.hashWasm = await import("hash-wasm");
  if (params.get("argon2id")) {
    const { default: setupWasm } = await import("/node_modules/argon2id/lib/setup.js");
    const dist = "/node_modules/argon2id/dist";
    extras.openpgpArgon2id = await setupWasm(
      async (io) => WebAssembly.instantiate(await bytes(`${dist}/simd.wasm`), io),
      async (io) => WebAssembly.instantiate(await bytes(`${dist}/no-simd.wasm`), io));
  }
  return extras;
}

try {
  const pyodide = await loadPyodide({ indexURL: "/node_modules/pyodide/" });
  const site = pyodide.runPython("import site; site.getsitepackages()[0]");
  pyodide.unpackArchive(await bytes(params.get("wheel")), "wheel", { extractDir: site });
  const argon2Wasm = await bytes("/node_modules/@phi-ag/argon2/dist/argon2.wasm");
  window.kdfBench = await setupKdfBench({ pyodide, sodium, argon2Wasm, extras: await optionalExtras() });
  document.getElementById("out").textContent = "ready";
} catch (err) {
  window.kdfError = String(err?.stack ?? err);
}
