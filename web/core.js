// Shared page state, view switching, messages, and the save pipeline (with merge on 409).
import { call } from "./api.js";
import { ask, onResult } from "./engine.js";

export const state = {
  accountId: null,
  me: null,
  unlocked: false,
  listing: null, // {revision, items, grants, kdf_ms}: names and metadata, never secrets
  blob: null, // the vault ciphertext to unlock: the last fetched or saved
  blobFetch: null, // the fetch started at lock time; unlocking waits for it
  kdfMs: 250, // expected Argon2id time, for the progress bar; updated after each run
};

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const viewHooks = {};
export function onView(name, fn) {
  viewHooks[name] = fn;
}

const showListeners = new Set();
// Called with the name of every section shown (the pairing inbox follows the person).
export function onShow(fn) {
  showListeners.add(fn);
}

export function show(name) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${name}`;
  for (const b of document.querySelectorAll("#nav button")) {
    if (b.dataset.view === name) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  for (const d of document.querySelectorAll("dialog[open]")) d.close();
  clearMessages();
  for (const fn of showListeners) fn(name);
  const hook = viewHooks[name];
  if (hook) hook().catch(fail);
}

export function clearMessages() {
  $("error").hidden = true;
  $("notice").hidden = true;
  for (const d of document.querySelectorAll(".dialog-error")) d.hidden = true;
}

// One message at a time: a later success replaces an earlier error and the reverse, so
// an old red banner never sits beside a newer "done".
// A server showing this browser another history of the vault: what happened is the
// worker's message; what to do is said here, the same for the three.
const SERVER_HISTORY = new Set(["fork", "downgrade", "lineage"]);
const HISTORY_ADVICE =
  " Nothing was saved, sealed or approved from this browser, and the vault here is as it" +
  " was. What to do: open the vault on another device you use and compare its credentials" +
  " and its last save; until you know which copy is right, grant nothing and approve no" +
  " pairing, and tell the server's operator: the server may be compromised.";

export function fail(err) {
  $("notice").hidden = true;
  const serious = SERVER_HISTORY.has(err?.code);
  $("error").textContent = (err?.message || String(err)) + (serious ? HISTORY_ADVICE : "");
  $("error").classList.toggle("serious", serious);
  $("error").dataset.code = err?.code || "error";  // the documented code, for tests and reports
  $("error").hidden = false;
  // In a modal dialog the page's banner sits under the backdrop: repeat it inside.
  const inDialog = document.querySelector("dialog[open] .dialog-error");
  if (inDialog) {
    inDialog.textContent = $("error").textContent;
    inDialog.hidden = false;
  }
  if (err?.code === "session_expired" && viewHooks.expired) viewHooks.expired();
}

export function notice(text) {
  $("error").hidden = true;
  for (const d of document.querySelectorAll(".dialog-error")) d.hidden = true;
  $("notice").textContent = text;
  $("notice").hidden = false;
}

// Move focus after the element it was on went away (a re-rendered list, a closed form);
// the change itself is announced through the notice region.
export function focusOn(node) {
  if (!node) return;
  if (!node.matches("button, input, select, textarea, a[href]") && !node.hasAttribute("tabindex")) {
    node.setAttribute("tabindex", "-1");
  }
  node.focus();
}

// A progress bar paced by the last measured Argon2id time: the work itself is one
// synchronous call in the worker and reports nothing while it runs.
export async function withKdf(label, promise) {
  const box = $("kdf");
  const bar = $("kdf-progress");
  $("kdf-label").textContent = label;
  box.hidden = false;
  bar.value = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    const frac = (performance.now() - started) / Math.max(state.kdfMs, 50);
    bar.value = Math.min(95, Math.round(100 * (1 - Math.exp(-2 * frac))));
  }, 30);
  try {
    const result = await promise;
    if (result?.kdf_ms) state.kdfMs = result.kdf_ms;
    return result;
  } finally {
    clearInterval(timer);
    bar.value = 100;
    box.hidden = true;
  }
}

const refreshers = new Set();
export function onListing(fn) {
  refreshers.add(fn);
}

// This browser profile as a writer of the vault (docs/web.md, "Forks, fresh browsers and
// revocations"): a random id drawn once and a name a person recognises, both public.
const DEVICE_KEY = "zkv-device";
export function device() {
  try {
    const kept = JSON.parse(localStorage.getItem(DEVICE_KEY) || "null");
    if (kept && /^[0-9a-f]{32}$/.test(kept.id) && typeof kept.name === "string") return kept;
  } catch {
    // damaged: a new identity (this profile then counts as a new device)
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const made = { id: [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(""), name: `Web browser (${browserLabel()})` };
  localStorage.setItem(DEVICE_KEY, JSON.stringify(made));
  return made;
}

function browserLabel() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox"
    : /Chrom(e|ium)\//.test(ua) ? "Chromium" : /Safari\//.test(ua) ? "Safari" : "browser";
  const os = /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Android/.test(ua) ? "Android"
    : /iPhone|iPad/.test(ua) ? "iOS" : /CrOS/.test(ua) ? "ChromeOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

// What this profile remembers of the account's vault (revisions, digests, device ids; no
// secret), as the worker hands it back after every open, save and accepted upload. The
// rollback floor an older version of this page kept (zkv-seen-revision) counts until the
// first open has made a memory.
const memoryKey = () => `zkv-vault-memory:${state.accountId}`;
const legacyKey = () => `zkv-seen-revision:${state.accountId}`;

export function rememberedVault() {
  const raw = localStorage.getItem(memoryKey());
  let memory = null;
  try {
    memory = raw ? JSON.parse(raw) : null;
  } catch {
    memory = { damaged: true }; // the worker refuses it (memory_damaged): never a fresh start
  }
  return { device: device(), memory, min_revision: Number(localStorage.getItem(legacyKey())) || 0 };
}

onResult((op, result) => {
  if (!result?.memory || !state.accountId) return;
  localStorage.setItem(memoryKey(), JSON.stringify(result.memory));
  localStorage.removeItem(legacyKey());
});

export function setListing(listing) {
  state.listing = listing;
  for (const fn of refreshers) fn(listing);
}

// Upload an edit the worker serialised; on a stale write, rebase our pending edits on
// the newer vault (another device's change is kept, and so is ours) and try again.
let mergeNote = ""; // what the last save merged, to prefix the caller's own message

export function takeMergeNote() {
  const note = mergeNote;
  mergeNote = "";
  return note;
}

// An edit the server did not take for a passing reason (unreachable, 5xx, 429): the
// worker keeps it pending, and it is uploaded again on its own (docs/web.md, "Saving
// while the server is down"). `unsentBase` is the revision the unsaved edits started
// from: a conflict answered while the server still holds it is only our own earlier
// upload, never another device's change.
const RETRY_FIRST_MS = 2000;
const RETRY_MAX_MS = 30000;
let unsent = null;
let unsentBase = null;
let retryTimer = null;
let retryDelay = RETRY_FIRST_MS;
let queue = Promise.resolve(); // one save at a time: a retry never races an edit

function passing(err) {
  return err?.code === "unreachable" || err?.code === "rate_limited" || err?.status >= 500;
}

// Forget what was not saved (the vault was locked: the worker drops it too); true if there
// was such an edit.
export function dropUnsaved() {
  const had = unsent !== null;
  unsent = null;
  unsentBase = null;
  clearTimeout(retryTimer);
  retryTimer = null;
  return had;
}

function scheduleRetry() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(retryUnsaved, retryDelay);
  retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
}

async function retryUnsaved() {
  retryTimer = null;
  if (!unsent || !state.unlocked) return;
  try {
    await save(unsent);
    const note = takeMergeNote();
    notice(`${note ? `${note} ` : ""}The server answers again: your unsaved edit is now saved.`);
  } catch (err) {
    if (!passing(err)) fail(err);
    // passing: save() scheduled the next attempt
  }
}

export function save(edit, options = {}) {
  const run = queue.then(() => saveNow(edit, options));
  queue = run.catch(() => {});
  return run;
}

async function saveNow(edit, { restoreFrom } = {}) {
  let current = edit;
  mergeNote = "";
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const body = {
        base_revision: current.base_revision,
        base_sha256: current.base_sha256,
        blob: current.blob,
      };
      let saved;
      try {
        saved = restoreFrom
          ? await call("POST", "/api/vault/restore", { from_revision: restoreFrom, ...body })
          : await call("PUT", "/api/vault", body);
      } catch (err) {
        if (passing(err) && !restoreFrom) {
          if (unsent === null) unsentBase = current.base_revision;
          unsent = current;
          scheduleRetry();
        }
        throw err;
      }
      await ask("committed", { revision: saved.revision });
      state.blob = current.blob;  // what the server now holds: the next unlock opens it
      dropUnsaved();
      retryDelay = RETRY_FIRST_MS;
      setListing(await ask("list"));
      return saved;
    } catch (err) {
      if (err.code !== "revision_conflict") throw err;
      const latest = await call("GET", "/api/vault");
      if (latest.blob === current.blob) {
        // Our own upload, taken by the server though its answer was lost: saved.
        await ask("committed", { revision: latest.revision });
        state.blob = current.blob;
        dropUnsaved();
        setListing(await ask("list"));
        return latest;
      }
      const ours = unsentBase !== null && latest.revision === unsentBase;
      const merged = await withKdf(ours ? "Re-applying your unsaved edit…" : "Merging with the newer vault…",
        ask("rebase", { blob: latest.blob }));
      setListing(merged);
      if (!ours) {
        // Another device really saved meanwhile (the server moved past what we built on).
        const notes = ["Another device changed the vault meanwhile; your edit was merged on top.", ...merged.notes];
        mergeNote = notes.join(" ");
        notice(mergeNote);
      }
      if (!merged.blob) return latest;
      current = merged;
    }
  }
  throw new Error("The vault keeps changing on the server; try again in a moment.");
}

// Apply an edit in the worker and save it. Returns the message prefix to show with the
// caller's own (what a merge did, or ""), or null if it failed (the error is shown).
export async function edit(op, args) {
  try {
    const result = await ask(op, args);
    setListing(result);
    await save(result);
    const note = takeMergeNote();
    return note ? `${note} ` : "";
  } catch (err) {
    // Not saved, but not lost either (a 429 or 5xx stores nothing): save() tries again.
    if (passing(err)) {
      if (err.code === "unreachable") err.message = "Cannot reach the server, so your edit is not saved yet.";
      err.message += " Your edit is kept in this tab and saved automatically as soon as the " +
        "server takes it; locking the vault or closing this tab before then loses it.";
    }
    fail(err);
    return null;
  }
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// "just now", "5 min ago", "3 h ago", then the date: how recent, at a glance.
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}
