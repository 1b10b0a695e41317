// The one way a host (web worker, test harness, benchmark) binds crypto for
// vault_core's PyodideBackend. Call it after loadPyodide() resolves, so that
// no JS object is captured by a memory snapshot. Environment-neutral: the
// caller supplies the libsodium-wrappers-sumo object and the bytes (or a
// compiled WebAssembly.Module) of @phi-ag/argon2's dist/argon2.wasm.
export const SODIUM_MODULE = "zkvault_sodium";
export const ARGON2_MODULE = "zkvault_argon2";

export async function bindCrypto(pyodide, { sodium, argon2Wasm }) {
  await sodium.ready;
  pyodide.registerJsModule(SODIUM_MODULE, sodium);
  if (!argon2Wasm) return { sodium: true, argon2: false };
  // argon2.wasm imports nothing; instantiating a Module yields the Instance itself.
  const result = await WebAssembly.instantiate(argon2Wasm, {});
  const instance = result instanceof WebAssembly.Instance ? result : result.instance;
  instance.exports._initialize(); // WASI reactor: run its constructors once
  pyodide.registerJsModule(ARGON2_MODULE, instance.exports);
  return { sodium: true, argon2: true };
}
