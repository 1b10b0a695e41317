// Earlier vault revisions (view and restore) and the audit trail (read and export).
import { call } from "./api.js";
import { $, el, fail, fmtTime, notice, onView, save, show, withKdf } from "./core.js";
import { ask } from "./engine.js";

let chosen = null; // {revision, blob} of the revision being looked at
let auditBefore = null;

async function renderHistory() {
  $("revision-details").hidden = true;
  const versions = await call("GET", "/api/vault/history");
  $("history-body").replaceChildren(...versions.map((v) =>
    el("tr", { "data-revision": String(v.revision) },
      el("td", { text: String(v.revision) }), el("td", { text: fmtTime(v.created_at) }),
      el("td", { text: `${v.size} bytes` }),
      el("td", {}, el("button", {
        type: "button", text: "View", "aria-label": `View revision ${v.revision}`,
        on: { click: () => view(v.revision).catch(fail) },
      })))));
}

async function view(revision) {
  const got = await call("GET", `/api/vault/history/${revision}`);
  const opened = await withKdf("Opening that revision (Argon2id)…", ask("open_revision", { blob: got.blob }));
  chosen = { revision, blob: got.blob };
  $("revision-title").textContent = `Revision ${revision}: ${opened.items.length} credential(s)`;
  $("revision-items").replaceChildren(...opened.items.map((i) => el("li", { text: `${i.name} (${i.kind}) ${i.url}` })));
  $("revision-details").hidden = false;
  $("revision-restore").focus();
}

async function restore() {
  if (!chosen) return;
  const result = await withKdf("Restoring (Argon2id)…", ask("restore", { blob: chosen.blob }));
  const saved = await save(result, { restoreFrom: chosen.revision });
  show("items");
  notice(`Restored the credentials of revision ${chosen.revision} as revision ${saved.revision}.`);
  chosen = null;
}

function auditRow(e) {
  return el("tr", {},
    el("td", { text: fmtTime(e.time) }),
    el("td", { text: e.tag || e.action }),
    el("td", { text: e.actor }),
    el("td", { text: e.target }),
    el("td", { text: e.outcome }),
    el("td", { text: e.source }));
}

async function renderAudit(more = false) {
  const query = more && auditBefore ? `?limit=50&before=${encodeURIComponent(auditBefore)}` : "?limit=50";
  const page = await call("GET", `/api/audit${query}`);
  const rows = page.events.map(auditRow);
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

export function initHistory() {
  onView("history", renderHistory);
  onView("audit", () => renderAudit(false));
  $("revision-restore").addEventListener("click", () => restore().catch(fail));
  $("audit-more").addEventListener("click", () => renderAudit(true).catch(fail));
  $("audit-export").addEventListener("click", () => exportAudit().catch(fail));
}
