// The vault worker: Pyodide + vault_core + libsodium.js. It holds the vault keys and every
// decrypted byte; the page talks to it only through the messages below (docs/web.md).
//
//   page -> worker  {id, op, args}           op: any Session.op_* in vault_web/worker_vault.py
//   worker -> page  {id, ok, result} | {id, ok:false, code, message}
//                   {event:"progress", stage, ms}   while loading
//                   {event:"ready", timings}        once vault_core can run
//
// Everything is loaded from our own origin under content-hashed names ("./NAME" is
// rewritten by tools/build_web.py); fetches carry SRI where the fetch API allows it, and
// the snapshot's SHA-384 is checked here (snapshotBytes).
import { loadPyodide } from "./pyodide/pyodide.mjs";

const WHEEL = { url: new URL("./vault_core.whl", import.meta.url), sri: "sri:./vault_core.whl" };
const ARGON2 = { url: new URL("./argon2.wasm", import.meta.url), sri: "sri:./argon2.wasm" };
// Pyodide's memory right after importing vault_core and vault_web, made at build time
// under Node (web/tools/snapshot.mjs): skips interpreter start-up and every import.
const SNAPSHOT = { url: new URL("./snapshot.bin", import.meta.url), sri: "sri:./snapshot.bin" };
const PYODIDE_DIR = new URL("./pyodide/", import.meta.url).href;

const t0 = performance.now();
const timings = {};
const mark = (stage) => {
  timings[stage] = Math.round(performance.now() - t0);
  postMessage({ event: "progress", stage, ms: timings[stage] });
};

async function fetchChecked(asset) {
  const response = await fetch(asset.url, { integrity: asset.sri, credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not load ${asset.url.pathname} (${response.status})`);
  return response;
}

async function boot() {
  // Start every download at once; Pyodide's own files stream while these arrive.
  const argon2 = WebAssembly.compileStreaming(fetchChecked(ARGON2));
  const snapshot = snapshotBytes();
  // libsodium.js is imported and its wasm compiled while Pyodide loads (a static import
  // would hold up the whole worker until it had arrived).
  const sodiumReady = import("./sodium.mjs").then(async ({ default: sodium }) => {
    await sodium.ready;
    return sodium;
  });
  const pyodide = await loadPyodide({
    indexURL: PYODIDE_DIR,
    _loadSnapshot: snapshot,
    packageBaseUrl: PYODIDE_DIR,
    // Nothing from a CDN, ever: we install our own wheel below and no other package.
    stdout: () => {},
    stderr: () => {},
  });
  mark("pyodide");
  // Bound after loading (no JS object inside Pyodide's state), as vault_core expects.
  pyodide.registerJsModule("zkvault_sodium", await sodiumReady);
  const instance = await WebAssembly.instantiate(await argon2, {});
  instance.exports._initialize();
  pyodide.registerJsModule("zkvault_argon2", instance.exports);
  mark("crypto");
  // The snapshot already holds vault_core and vault_web, imported. Install them from the
  // wheel only if it somehow does not (then the first import compiles them here).
  if (!pyodide.runPython("import sys\n'vault_web.worker_vault' in sys.modules")) await install(pyodide);
  const dispatch = pyodide.runPython("import vault_web.worker_vault\nvault_web.worker_vault.dispatch");
  mark("vault_core");
  return dispatch;
}

// The snapshot is Pyodide's 31 MB memory, served packed without its all-zero 64 KiB
// pages (16.6 MB, 6.5 MB gzipped; built by tools/build_web.py, layout in docs/web.md):
// instantiation waits for these bytes, so fewer of them to inflate, check and read back
// means a sooner start. The HTTP cache keeps them gzipped, so every load would inflate them
// again; keep this version's packed bytes in Cache Storage (they are Pyodide's state at
// build time: code, no user data) and drop older versions.
const SNAPSHOT_CACHE = "zkvault-pyodide-snapshot";
let storeSnapshot = async () => {};
async function snapshotBytes() {
  const key = SNAPSHOT.url.href;
  let cache = null;
  try {
    cache = await caches.open(SNAPSHOT_CACHE);
    const hit = await cache.match(key);
    const unpacked = hit && unpackSnapshot(await hit.arrayBuffer());
    if (unpacked) return unpacked;
  } catch {
    cache = null; // no Cache Storage (private mode, quota): just fetch
  }
  // Checked here rather than by fetch's `integrity`: Chromium's SRI check of a large body
  // holds the worker's thread (~0.2 s for 31 MB), WebCrypto's digest runs off it
  // (docs/performance.md, "Web"). The same SHA-384 either way.
  const packed = await (await fetchChecked({ url: SNAPSHOT.url })).arrayBuffer();
  const bytes = (await sri384(packed)) === SNAPSHOT.sri && unpackSnapshot(packed);
  if (!bytes) throw new Error(`${SNAPSHOT.url.pathname} is not the file this page was built with`);
  // Stored once the engine is ready (Pyodide only reads the unpacked copy), so writing
  // them does not compete with loading.
  if (cache) {
    storeSnapshot = async () => {
      for (const old of await cache.keys()) if (old.url !== key) await cache.delete(old);
      await cache.put(key, new Response(packed));
    };
  }
  return bytes;
}

// The snapshot's bytes, or null for anything that is not a whole packed snapshot (in Cache
// Storage: an entry from an older version, a truncated write; then it is fetched again).
const PAGE = 65536;
const PACKED = [0x5a, 0x4b, 0x53, 0x50]; // "ZKSP"

function unpackSnapshot(packed) {
  const view = new DataView(packed);
  if (packed.byteLength < 8 || PACKED.some((b, i) => view.getUint8(i) !== b)) return null;
  const length = view.getUint32(4, true);
  const pages = Math.ceil(length / PAGE);
  const map = new Uint8Array(packed, 8, Math.min(Math.ceil(pages / 8), packed.byteLength - 8));
  const bytes = new Uint8Array(length);
  let at = 8 + map.length;
  for (let p = 0; p < pages; p++) {
    if (!(map[p >> 3] & (1 << (p & 7)))) continue;
    const size = Math.min(PAGE, length - p * PAGE);
    if (at + size > packed.byteLength) return null;
    bytes.set(new Uint8Array(packed, at, size), p * PAGE);
    at += size;
  }
  return at === packed.byteLength ? bytes : null;
}

async function sri384(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-384", bytes));
  return `sha384-${btoa(String.fromCharCode(...digest))}`;
}

async function install(pyodide) {
  const wheel = await fetchChecked(WHEEL).then((r) => r.arrayBuffer());
  const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
  pyodide.unpackArchive(wheel, "wheel", { extractDir: sitePackages });
}

const ready = boot();
ready.then(
  (dispatch) => {
    postMessage({ event: "ready", timings });
    // Warm Argon2id once while the passphrase is being typed: the first run pays for
    // growing the wasm memory to 64 MiB and for tiering up the compiled code.
    queue = queue.then(() => dispatch("kdf_benchmark", '{"runs": 1}'));
    // Then keep the snapshot, outside the queue (requests need not wait for the write).
    // Caching is an optimisation only: a failure leaves the next load to fetch again.
    queue.then(() => storeSnapshot()).catch(() => {});
  },
  (err) => postMessage({ event: "failed", message: `The vault engine failed to load: ${err.message}` }),
);

// One request at a time: Python is single-threaded and ops depend on each other's state.
let queue = ready.catch(() => {});
onmessage = (e) => {
  const { id, op, args } = e.data;
  queue = queue.then(async () => {
    let dispatch;
    try {
      dispatch = await ready;
    } catch (err) {
      postMessage({ id, ok: false, code: "unavailable", message: "The vault engine did not load." });
      return;
    }
    const started = performance.now();
    let reply;
    try {
      reply = JSON.parse(dispatch(op, JSON.stringify(args ?? {})));
    } catch (err) {
      // Only a fault outside vault_web.worker_vault.dispatch's own handling lands here; report its kind
      // only (a Python traceback could quote data) and keep serving later requests.
      reply = { ok: false, code: "internal", message: `The vault engine failed (${err?.name || "error"}).` };
    }
    reply.id = id;
    reply.ms = Math.round(performance.now() - started);
    postMessage(reply);
  });
};
