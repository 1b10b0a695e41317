// Earlier vault revisions: view and restore; recovery of a current one that does not open.
import { call } from "./api.js";
import { $, el, fail, fmtTime, notice, onView, save, show, state, withKdf } from "./core.js";
import { ask } from "./engine.js";

let chosen = null; // {revision, blob} of the revision being looked at
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

export function initHistory() {
  onView("history", () => renderHistory(false));
  $("revision-restore").addEventListener("click", () => restore().catch(fail));
  $("history-more").addEventListener("click", () => renderHistory(true).catch(fail));
}
