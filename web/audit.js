// The audit trail: events in words, filtered by who, what and outcome; routine session
// renewals folded to one line per actor and day; a page of 50 at a time ("Older events");
// cards on a phone. Export as JSON, and verification against the seals in the vault.
import { call } from "./api.js";
import { $, el, fail, fmtTime, notice, onView, state } from "./core.js";
import { ask } from "./engine.js";

const PAGE = 50;
let auditBefore = null;
let loaded = []; // every event fetched so far, newest first
let nameOf = (label) => label;

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
  "session.revoke": "Signed out a browser",
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
    if (kind === "client" || kind === "session") return "A browser session";
    if (kind === "machine") return "A machine (removed)";
    if (kind === "runner") return "A runner (removed)";
    return label;
  };
}

// What each "What" filter keeps, by the action's first word.
const GROUPS = {
  vault: ["vault"],
  pairing: ["pairing", "machine.pair", "runner.enrol"],
  devices: ["machine", "runner"],
  grant: ["grant"],
  session: ["session", "token"],
};

function inGroup(e, group) {
  if (!group) return true;
  const prefixes = GROUPS[group] || [];
  // "pairing" takes the finished pairings too; "devices" leaves them to it.
  if (group === "devices" && (e.action === "machine.pair" || e.action === "runner.enrol")) return false;
  return prefixes.some((p) => e.action === p || e.action.startsWith(`${p}.`));
}

const ROUTINE = new Set(["token.refresh"]); // a session renewing itself: one line per actor and day
const dayOf = (iso) => String(iso).slice(0, 10);

// Events to lines: a routine event joins the line of the newest event of the same actor,
// action and outcome on the same day; the line shows how many and over what span.
// (Exported with auditRow and downloadJson for the team audit trail, web/teams.js.)
export function fold(events) {
  const lines = [];
  const open = new Map();
  for (const e of events) {
    if (!ROUTINE.has(e.action)) {
      lines.push({ event: e, count: 1, oldest: e });
      continue;
    }
    const key = `${e.actor}|${e.action}|${e.outcome}|${dayOf(e.time)}`;
    const line = open.get(key);
    if (line) {
      line.count += 1;
      line.oldest = e;
    } else {
      const fresh = { event: e, count: 1, oldest: e };
      open.set(key, fresh);
      lines.push(fresh);
    }
  }
  return lines;
}

const timeOfDay = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });

// `words`, `who` and `target` name actions, actors and targets (a team's audit trail
// passes its own; the default: this account's).
export function auditRow({ event: e, count, oldest }, { words: actions = ACTIONS, who = nameOf, target } = {}) {
  const words = actions[e.action] || e.action;
  const what = el("td", { "data-label": "What" }, el("span", { text: count > 1 ? `${words} (${count} times)` : words }),
    el("span", { class: "raw", text: e.tag || e.action }));
  const when = count > 1
    ? `${fmtTime(e.time)} (since ${timeOfDay(oldest.time)})`
    : fmtTime(e.time);
  const outcome = e.outcome === "success" ? "Succeeded" : e.outcome === "failure" ? "Failed" : e.outcome;
  return el("tr", { "data-action": e.action, "data-count": String(count) },
    el("td", { class: "time", "data-label": "When", text: when }),
    what,
    el("td", { "data-label": "Who", text: who(e.actor) }),
    el("td", { "data-label": "Target", text: target ? target(e) : e.detail && e.target.startsWith("pairing") ? e.detail : nameOf(e.target) }),
    el("td", { "data-label": "Outcome" }, el("span", { class: `badge ${e.outcome === "success" ? "ok" : "bad"}`, text: outcome })),
    el("td", { class: "mono", "data-label": "Source", text: e.source }));
}

function fillWho() {
  const select = $("audit-who");
  const chosen = select.value;
  const actors = [...new Set(loaded.map((e) => e.actor))];
  const named = actors.map((a) => [a, nameOf(a)]).sort((a, b) => a[1].localeCompare(b[1]));
  select.replaceChildren(el("option", { value: "", text: "Anyone" }),
    ...named.map(([a, n]) => el("option", { value: a, text: n })));
  select.value = actors.includes(chosen) ? chosen : "";
}

function renderLines() {
  const who = $("audit-who").value;
  const group = $("audit-what").value;
  const outcome = $("audit-outcome").value;
  const kept = loaded.filter((e) => (!who || e.actor === who) && inGroup(e, group) &&
    (!outcome || (outcome === "success" ? e.outcome === "success" : e.outcome !== "success")));
  const lines = fold(kept);
  $("audit-body").replaceChildren(...lines.map((line) => auditRow(line)));
  const filtered = who || group || outcome;
  $("audit-nomatch").hidden = lines.length > 0 || !loaded.length;
  const n = loaded.length;
  $("audit-count").textContent = `${filtered ? `${kept.length} of ` : ""}${n} event${n === 1 ? "" : "s"} loaded` +
    `${lines.length < kept.length ? `, shown in ${lines.length} line${lines.length === 1 ? "" : "s"} (session renewals folded per day)` : ""}` +
    `${auditBefore ? "; older events load with “Older events”" : ""}.`;
}

async function renderAudit(more = false) {
  const query = more && auditBefore ? `?limit=${PAGE}&before=${encodeURIComponent(auditBefore)}` : `?limit=${PAGE}`;
  const [page, machines, runners] = await Promise.all([
    call("GET", `/api/audit${query}`), call("GET", "/api/machines"), call("GET", "/api/runners")]);
  state.clients = { machines, runners };
  nameOf = namer();
  loaded = more ? [...loaded, ...page.events] : page.events;
  auditBefore = page.next_before;
  $("audit-more").hidden = !auditBefore;
  fillWho();
  renderLines();
}

// An export as the file the browser saves (named `prefix`-YYYY-MM-DD.json).
export function downloadJson(data, prefix) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const a = el("a", { href: url, download: `${prefix}-${new Date().toISOString().slice(0, 10)}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function exportAudit() {
  const data = await call("GET", "/api/audit/export");
  downloadJson(data, "zkvault-audit");
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

export function initAudit() {
  onView("audit", () => renderAudit(false));
  $("audit-more").addEventListener("click", () => renderAudit(true).catch(fail));
  for (const id of ["audit-who", "audit-what", "audit-outcome"]) $(id).addEventListener("change", renderLines);
  $("audit-export").addEventListener("click", () => exportAudit().catch(fail));
  $("audit-verify").addEventListener("click", () => verifyAudit().catch((err) => {
    $("audit-verify-result").hidden = true;
    fail(err);
  }));
}
