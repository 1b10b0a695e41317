// Earlier vault revisions (view and restore) and the audit trail (read and export).
import { call } from "./api.js";
import { $, el, fail, fmtTime, notice, onView, save, show, state, withKdf } from "./core.js";
import { ask } from "./engine.js";

let chosen = null; // {revision, blob} of the revision being looked at
let auditBefore = null;
// The server keeps every revision of weeks past (docs/server.md, "History"): a page at a
// time, newest first. One more than shown is asked for, to know whether older ones exist.
const HISTORY_PAGE = 50;
let historyBefore = null; // the oldest revision listed, while older ones remain

function revisionRow(v) {
  return el("tr", { "data-revision": String(v.revision) },
    el("td", { text: String(v.revision) }), el("td", { text: fmtTime(v.created_at) }),
    el("td", { text: `${v.size} bytes` }),
    el("td", {}, el("button", {
      type: "button", text: "View", "aria-label": `View revision ${v.revision}`,
      on: { click: () => view(v.revision).catch(fail) },
    })));
}

async function renderHistory(more = false) {
  if (!more) $("revision-details").hidden = true;
  const before = more && historyBefore ? `&before=${historyBefore}` : "";
  const got = await call("GET", `/api/vault/history?limit=${HISTORY_PAGE + 1}${before}`);
  const page = got.slice(0, HISTORY_PAGE);
  const rows = page.map(revisionRow);
  if (more) $("history-body").append(...rows);
  else $("history-body").replaceChildren(...rows);
  historyBefore = got.length > HISTORY_PAGE ? page[page.length - 1].revision : null;
  $("history-more").hidden = historyBefore === null;
}

async function view(revision) {
  const got = await call("GET", `/api/vault/history/${revision}`);
  // Opened with the vault key the worker holds: no Argon2id, whichever passphrase it was saved under.
  const opened = await ask("open_revision", { blob: got.blob });
  chosen = { revision, blob: got.blob };
  $("revision-title").textContent = `Revision ${revision}: ${opened.items.length} credential(s)`;
  $("revision-items").replaceChildren(...opened.items.map((i) => el("li", { text: `${i.name} (${i.kind}) ${i.url}` })));
  $("revision-details").hidden = false;
  $("revision-restore").focus();
}

async function restore() {
  if (!chosen) return;
  // The restore goes on top of whatever the server holds now, even a revision that does
  // not open (written with a stolen credential, say): the worker replaces it unread.
  const head = await call("GET", "/api/vault");
  const current = { revision: head.revision, sha256: head.sha256, blob: head.blob };
  const result = await ask("restore", { blob: chosen.blob, head: current });
  const saved = await save(result, { restoreFrom: chosen.revision });
  show("items");
  notice(`Restored the credentials of revision ${chosen.revision} as revision ${saved.revision}.`);
  chosen = null;
}

// The current revision does not open (damaged, or garbage saved with a stolen token):
// find the newest earlier revision this passphrase opens, newest first, and have the
// worker unlock it re-sealed on top of the current one. Server errors end the search;
// a revision that does not open (garbage too, or another passphrase's) is skipped.
export async function recoverNewest(accountId, passphrase) {
  const head = await call("GET", "/api/vault");
  const current = { revision: head.revision, sha256: head.sha256, blob: head.blob };
  let before = head.revision;
  // Garbage fails before any key derivation; a wrong passphrase costs one each time, and
  // after a few it is more likely mistyped than the revisions all saved under another.
  let wrongPassphrase = 0;
  for (;;) {
    const page = await call("GET", `/api/vault/history?limit=${HISTORY_PAGE}&before=${before}`);
    for (const v of page) {
      const got = await call("GET", `/api/vault/history/${v.revision}`);
      try {
        return await withKdf(`Opening revision ${v.revision} (Argon2id)…`,
          ask("recover", { account_id: accountId, blob: got.blob, head: current, passphrase }));
      } catch (err) {
        if (err.code === "crashed" || err.code === "internal") throw err;
        if (err.code === "wrong_passphrase" && ++wrongPassphrase >= 3) throw err;
      }
    }
    if (page.length < HISTORY_PAGE) break;
    before = page[page.length - 1].revision;
  }
  throw new Error("No earlier revision opens with this passphrase.");
}

// What an event did, in words; the raw action stays beside it for bug reports.
const ACTIONS = {
  "session.sign-in": "Signed in",
  "token.refresh": "Renewed its session",
  "token.reuse": "Reused an old session token: session ended",
  "vault.write": "Saved the vault",
  "vault.restore": "Restored a revision",
  "pairing.request": "Asked to pair",
  "pairing.approve": "Approved a pairing",
  "pairing.refuse": "Refused a pairing",
  "machine.pair": "Finished pairing",
  "runner.enrol": "Finished enrolling",
  "machine.rename": "Renamed a machine",
  "runner.rename": "Renamed a runner",
  "machine.revoke": "Revoked a machine",
  "runner.revoke": "Revoked a runner",
  "grant.write": "Sealed a runner's grant",
  "grant.delete": "Deleted a runner's grant",
};

// "kind:id" labels -> the names people gave: machines and runners by their id, the
// owner's own browser sessions (actor "account:<account or session id>") as the person.
function namer() {
  const names = new Map();
  for (const c of [...(state.clients?.machines || []), ...(state.clients?.runners || [])]) names.set(c.id, c.name);
  // A pinned runner by the name in its pin (the vault's word), as on Machines & runners.
  for (const [id, name] of Object.entries(state.listing?.pin_names || {})) names.set(id, name);
  const me = state.me || {};
  const person = me.name || me.email || "You";
  return (label) => {
    const [kind, id = ""] = String(label || "").split(/:(.*)/s);
    if (kind === "anonymous" || !label) return "Unknown (not signed in)";
    if (kind === "vault") return "Your vault";
    if (kind === "pairing") return "A pairing request";
    if (names.has(id)) return `${kind === "runner" ? "Runner" : kind === "machine" ? "Machine" : ""} ${names.get(id)}`.trim();
    if (id === me.client_id) return kind === "client" ? "This browser session" : `${person} (this browser)`;
    if (kind === "account" && id === me.account_id) return person;
    if (kind === "account") return `${person} (a browser)`;
    if (kind === "client") return "A browser session";
    if (kind === "machine") return "A machine (removed)";
    if (kind === "runner") return "A runner (removed)";
    return label;
  };
}

function auditRow(e, name) {
  const what = el("td", {}, el("span", { text: ACTIONS[e.action] || e.action }),
    el("span", { class: "raw", text: e.tag || e.action }));
  return el("tr", {},
    el("td", { class: "time", text: fmtTime(e.time) }),
    what,
    el("td", { text: name(e.actor) }),
    el("td", { text: e.detail && e.target.startsWith("pairing") ? e.detail : name(e.target) }),
    el("td", {}, el("span", { class: `badge ${e.outcome === "success" ? "ok" : "bad"}`, text: e.outcome })),
    el("td", { class: "mono", text: e.source }));
}

async function renderAudit(more = false) {
  const query = more && auditBefore ? `?limit=50&before=${encodeURIComponent(auditBefore)}` : "?limit=50";
  const [page, machines, runners] = await Promise.all([
    call("GET", `/api/audit${query}`), call("GET", "/api/machines"), call("GET", "/api/runners")]);
  state.clients = { machines, runners };
  const name = namer();
  const rows = page.events.map((e) => auditRow(e, name));
  if (more) $("audit-body").append(...rows);
  else $("audit-body").replaceChildren(...rows);
  auditBefore = page.next_before;
  $("audit-more").hidden = !auditBefore;
}

async function exportAudit() {
  const data = await call("GET", "/api/audit/export");
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const a = el("a", { href: url, download: `zkvault-audit-${new Date().toISOString().slice(0, 10)}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  notice(`Exported ${data.events.length} audit events (hash chain head ${String(data.head_hash).slice(0, 12)}…).`);
}

// Every kept revision's blob, newest first (the worker reads the audit head each sealed).
async function keptBlobs() {
  const blobs = [];
  let before = "";
  for (;;) {
    const page = await call("GET", `/api/vault/history?limit=500${before}`);
    for (const v of page) {
      const got = await call("GET", `/api/vault/history/${v.revision}`);
      blobs.push({ revision: v.revision, blob: got.blob });
    }
    if (page.length < 500) return blobs;
    before = `&before=${page[page.length - 1].revision}`;
  }
}

const KINDS = {
  rewritten: "Rewritten",
  truncated: "Truncated",
  reordered: "Reordered",
  unlinked: "Unlinked",
  altered: "Altered",
  malformed: "Malformed",
};

// The export checked, in the worker, against the chain heads sealed in the vault and in
// every kept revision: what the server shows now must pass through what each save saw.
async function verifyAudit() {
  const box = $("audit-verify-result");
  const summary = $("audit-verify-summary");
  box.hidden = false;
  box.className = "verify-result";
  summary.textContent = "Checking the audit trail against your vault…";
  $("audit-verify-problems").replaceChildren();
  const [data, blobs] = await Promise.all([call("GET", "/api/audit/export"), keptBlobs()]);
  const report = await ask("verify_audit", { export: data, blobs });
  box.classList.add(report.consistent ? "ok" : "bad");
  summary.textContent = report.consistent
    ? `The audit trail is consistent (${report.checked} events, ${report.anchors} anchors).`
    : `The audit trail does not match what your vault's saves saw: ${report.problems.length + report.omitted} problem(s).`;
  const notes = [];
  if (report.anchors === 0) notes.push("No revision holds an anchor yet: the chain was checked in itself only.");
  if (report.unreadable.length) notes.push(`Revisions ${report.unreadable.join(", ")} did not open and were skipped.`);
  if (notes.length) summary.textContent += ` ${notes.join(" ")}`;
  $("audit-verify-problems").replaceChildren(...report.problems.map((p) =>
    el("li", { "data-kind": p.kind, text: `${KINDS[p.kind] || p.kind}${p.seq === null ? "" : ` at event ${p.seq}`}: ${p.message}` })));
}

export function initHistory() {
  onView("history", () => renderHistory(false));
  onView("audit", () => renderAudit(false));
  $("revision-restore").addEventListener("click", () => restore().catch(fail));
  $("history-more").addEventListener("click", () => renderHistory(true).catch(fail));
  $("audit-more").addEventListener("click", () => renderAudit(true).catch(fail));
  $("audit-export").addEventListener("click", () => exportAudit().catch(fail));
  $("audit-verify").addEventListener("click", () => verifyAudit().catch((err) => {
    $("audit-verify-result").hidden = true;
    fail(err);
  }));
}
