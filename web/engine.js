// The page's handle on the vault worker. Started as soon as the page loads, so Pyodide is
// usually ready before the passphrase has been typed.

export class EngineError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const listeners = new Set();
// Called with every successful result before the caller sees it (core.js stores the vault
// memory a result carries here, so it is saved before anything is uploaded).
let resultHook = () => {};
export function onResult(fn) {
  resultHook = fn;
}

let worker = null;
let nextId = 1;
const waiting = new Map();
let readyState = { ready: false, failed: null, timings: {} };

export function onEngineEvent(fn) {
  listeners.add(fn);
  fn(readyState);
}

function emit() {
  for (const fn of listeners) fn(readyState);
}

export function startEngine() {
  if (worker) return;
  // boot.js (a classic script, first in <head>) has usually started it already.
  const early = globalThis.zkvEarlyWorker;
  delete globalThis.zkvEarlyWorker;
  if (early) worker = early.worker;
  else {
    performance.mark("zkv-worker-start");
    worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "vault" });
  }
  worker.onmessage = (e) => {
    const msg = e.data;
    if (msg.event === "progress") {
      readyState = { ...readyState, stage: msg.stage, timings: { ...readyState.timings, [msg.stage]: msg.ms } };
      emit();
    } else if (msg.event === "ready") {
      performance.mark("zkv-engine-ready"); // read by benchmarks/web.py
      readyState = { ...readyState, ready: true, timings: msg.timings };
      emit();
    } else if (msg.event === "failed") {
      readyState = { ...readyState, failed: msg.message };
      emit();
    } else if (waiting.has(msg.id)) {
      const { resolve, reject, op } = waiting.get(msg.id);
      waiting.delete(msg.id);
      performance.mark(`zkv-op-${op}`, { detail: msg.ms }); // time spent in the worker
      if (msg.ok) {
        try {
          resultHook(op, msg.result);
        } catch (err) {
          reject(err);
          return;
        }
        resolve(msg.result);
      } else reject(new EngineError(msg.code, msg.message));
    }
  };
  worker.onerror = (e) => {
    readyState = { ...readyState, failed: `The vault engine crashed: ${e.message || "unknown error"}` };
    emit();
    for (const { reject } of waiting.values()) reject(new EngineError("crashed", readyState.failed));
    waiting.clear();
  };
  if (early) {
    // What arrived before this module did, in order, then nothing more is buffered.
    worker.removeEventListener("message", early.keep);
    worker.removeEventListener("error", early.keep);
    for (const e of early.early) (e.type === "error" ? worker.onerror : worker.onmessage)(e);
  }
}

// The audit-chain head the server last named (api.js hands on every `audit_head` it sees):
// told to the worker ahead of every operation (a few bytes), so that whichever vault the
// worker holds by then (unlocked, rebased, recovered) seals it at its next save
// (docs/server.md, "Audit anchors"). Only ever moves forward.
let auditHead = null;

export function sawAuditHead(head) {
  if (!head || !Number.isSafeInteger(head.seq) || typeof head.hash !== "string") return;
  if (!auditHead || head.seq > auditHead.seq) auditHead = { seq: head.seq, hash: head.hash };
}

// A team's audit-chain head (the `audit_head` of its vault and log answers): the worker
// keeps the newest per team and that team's next save seals it (format.md §15.9).
export function sawTeamAuditHead(teamId, head) {
  if (!head || !Number.isSafeInteger(head.seq) || typeof head.hash !== "string") return;
  ask("team_saw_audit_head", { team_id: teamId, seq: head.seq, hash: head.hash }).catch(() => {});
}

function post(op, args) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, op });
    worker.postMessage({ id, op, args });
  });
}

// args may carry a passphrase or a secret on its way in; results carry only what the page
// shows (a secret only from "reveal").
export function ask(op, args = {}) {
  startEngine();
  // The worker answers in order: this lands before `op`. Until a vault is open it is not
  // taken (anchored: false), and the next operation tells it again.
  if (auditHead) post("saw_audit_head", auditHead).catch(() => {});
  return post(op, args);
}
