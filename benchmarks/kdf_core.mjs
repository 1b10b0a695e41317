// Argon2id candidates inside Pyodide (and straight from JS, for reference), shared by the
// Node entry (kdf_pyodide.mjs) and the Chromium page (kdf_browser.html). kdf.py calls
// once(name) round by round, each right after a native PyNaCl run, so that the load of
// a shared machine hits both sides of every ratio alike.
//
// "pyodide:*" candidates are called FROM PYTHON, as vault_core calls them, and timed
// with time.perf_counter() inside Pyodide.
import { bindCrypto } from "../tests/pyodide/bind_crypto.mjs";

const PY_SETUP = `
import json, time
from vault_core.backend.pyodide import PyodideBackend

_P = dict(out_len=32, passphrase=b"correct horse", salt=bytes(16), opslimit=3,
          memlimit=65536 * 1024)
_BACKENDS = {"libsodium": PyodideBackend(use_argon2_module=False),
             "argon2_module": PyodideBackend(use_argon2_module=True)}

def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return json.dumps({"ms": (time.perf_counter() - t) * 1000, "hex": bytes(out).hex()})

def _once(kind):
    if kind in _BACKENDS:
        return _timed(lambda: _BACKENDS[kind].argon2id(**_P))
    if kind == "openpgp":
        import bench_openpgp
        from js import Object
        from pyodide.ffi import to_js
        opts = to_js({"password": b"correct horse", "salt": bytes(16), "parallelism": 1,
                      "passes": 3, "memorySize": 65536, "tagLength": 32},
                     dict_converter=Object.fromEntries)
        return _timed(lambda: bench_openpgp.argon2id(opts).to_bytes())
    raise ValueError(kind)

async def _once_hash_wasm():
    # hash-wasm's argon2id returns a Promise: only awaitable, never callable synchronously.
    import bench_hash_wasm
    from js import Object
    from pyodide.ffi import to_js
    opts = to_js({"password": b"correct horse", "salt": bytes(16), "parallelism": 1,
                  "iterations": 3, "memorySize": 65536, "hashLength": 32,
                  "outputType": "binary"}, dict_converter=Object.fromEntries)
    t = time.perf_counter()
    out = (await bench_hash_wasm.argon2id(opts)).to_bytes()
    return json.dumps({"ms": (time.perf_counter() - t) * 1000, "hex": out.hex()})
`;

const hex = (u) => Array.from(u, (b) => b.toString(16).padStart(2, "0")).join("");

async function timedJs(fn) {
  const t = performance.now();
  const out = await fn();
  return { ms: performance.now() - t, hex: hex(out) };
}

// extras: { hashWasm: <hash-wasm module>, openpgpArgon2id: <argon2id's computeHash> }, each
// optional (not dependencies: npm install --no-save hash-wasm@4.13.0 argon2id@1.0.1).
export async function setupKdfBench({ pyodide, sodium, argon2Wasm, extras = {} }) {
  await bindCrypto(pyodide, { sodium, argon2Wasm });
  pyodide.runPython(PY_SETUP);
  const py = async (code) => JSON.parse(await pyodide.runPythonAsync(code));
  const pw = new TextEncoder().encode("correct horse");
  const salt = new Uint8Array(16);

  // A separate instance for the plain-JS row, driven the same way the backend drives it.
  const inst = await WebAssembly.instantiate(argon2Wasm, {});
  const ex = (inst instanceof WebAssembly.Instance ? inst : inst.instance).exports;
  ex._initialize();
  const phiHash = () => {
    const p = ex.malloc(pw.length), s = ex.malloc(16), o = ex.malloc(32);
    new Uint8Array(ex.memory.buffer).set(pw, p);
    new Uint8Array(ex.memory.buffer).set(salt, s);
    const rc = ex.argon2_hash(3, 65536, 1, p, pw.length, s, 16, o, 32, 0, 0, 2, 0x13);
    if (rc !== 0) throw new Error(`argon2_hash returned ${rc}`);
    const out = new Uint8Array(ex.memory.buffer).slice(o, o + 32);
    ex.free(p); ex.free(s); ex.free(o);
    return out;
  };

  const candidates = {
    "pyodide:libsodium.js crypto_pwhash": () => py("_once('libsodium')"),
    "pyodide:@phi-ag/argon2 SIMD wasm": () => py("_once('argon2_module')"),
    "js:libsodium.js crypto_pwhash": () => timedJs(() => sodium.crypto_pwhash(
      32, pw, salt, 3, 65536 * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13)),
    "js:@phi-ag/argon2 SIMD wasm": () => timedJs(phiHash),
  };
  if (extras.hashWasm) {
    pyodide.registerJsModule("bench_hash_wasm", { argon2id: extras.hashWasm.argon2id });
    candidates["pyodide:hash-wasm argon2id (async, awaited)"] = () => py("await _once_hash_wasm()");
    candidates["js:hash-wasm argon2id"] = () => timedJs(() => extras.hashWasm.argon2id({
      password: pw, salt, parallelism: 1, iterations: 3, memorySize: 65536, hashLength: 32,
      outputType: "binary" }));
  }
  if (extras.openpgpArgon2id) {
    pyodide.registerJsModule("bench_openpgp", { argon2id: extras.openpgpArgon2id });
    candidates["pyodide:argon2id (openpgp) SIMD wasm"] = () => py("_once('openpgp')");
    candidates["js:argon2id (openpgp) SIMD wasm"] = () => timedJs(() => extras.openpgpArgon2id({
      password: pw, salt, parallelism: 1, passes: 3, memorySize: 65536, tagLength: 32 }));
  }
  return {
    names: Object.keys(candidates),
    once: (name) => candidates[name](),
  };
}
