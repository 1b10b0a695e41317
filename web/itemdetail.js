// A credential's own page: a sheet with every field (no secret until Show or Copy), when
// it was created and changed (from the kept revisions, opened in the worker), which
// runners receive it and under which environment variable, and an ssh-key's public half
// (web/sshkeys.js).
import { call } from "./api.js";
import { $, el, fail, fmtTime, state } from "./core.js";
import { ask } from "./engine.js";
import { hostOf, mark, provider } from "./providers.js";
import { clearSshDetail, initSshDetail, renderSshDetail, SSH_KEY } from "./sshkeys.js";

const HISTORY_PAGE = 50; // kept revisions looked through for the item's changes
let shownId = null; // the item on show; a late answer for another one is dropped
let hooks = { edit: () => {}, remove: () => {}, reveal: null, copy: null };

// The variable `zkvault run` exports an item under (native/run.py, env_name): upper-cased,
// anything not a letter or digit becomes "_", and a leading digit gets ZKVAULT_.
export function envName(name) {
  const out = [...name.toUpperCase()].map((c) => (/[\p{L}\p{N}]/u.test(c) ? c : "_")).join("").replace(/^_+|_+$/g, "");
  return out && !/^\p{N}/u.test(out) ? out : `ZKVAULT_${out}`;
}

function runnerNames() {
  const names = new Map((state.clients?.runners || []).map((r) => [r.id, r.name]));
  for (const [id, name] of Object.entries(state.listing?.pin_names || {})) names.set(id, name);
  return names;
}

function renderRunners(item) {
  const grants = state.listing?.grants || {};
  const names = runnerNames();
  const revoked = state.listing?.revoked || {};
  const ids = Object.keys(grants).filter((r) => grants[r].includes(item.id) && !revoked[r]);
  const variable = envName(item.name);
  $("detail-runners").replaceChildren(...(ids.length
    ? ids.map((id) => el("li", { "data-runner": names.get(id) || id },
      el("span", { class: "item-name", text: names.get(id) || "A runner" }), " gets it as ",
      el("code", { text: variable }), el("span", { class: "hint", text: " (with zkvault run)" })))
    : [el("li", { class: "hint", text: "No runner receives it. Grant it to a runner under Machines & runners." })]));
}

// Distinct item revisions across the kept revisions: when it was created (as far back as
// the server keeps) and each later change.
async function renderHistory(item) {
  const list = $("detail-history");
  list.replaceChildren(el("li", { class: "hint", text: "Reading the kept revisions…" }));
  const kept = await call("GET", `/api/vault/history?limit=${HISTORY_PAGE + 1}`);
  const page = kept.slice(0, HISTORY_PAGE);
  const when = new Map(page.map((v) => [v.revision, v.created_at]));
  const changes = new Set([item.revision]);
  let oldestHolding = null;
  for (const v of page) { // newest first
    if (shownId !== item.id) return;
    const got = await call("GET", `/api/vault/history/${v.revision}`);
    let opened;
    try {
      opened = await ask("open_revision", { blob: got.blob });
    } catch {
      continue; // a revision that does not open tells nothing about this item
    }
    const found = opened.items.find((i) => i.id === item.id);
    if (!found) break; // before it was created
    changes.add(found.revision);
    oldestHolding = v.revision;
  }
  if (shownId !== item.id) return;
  const older = kept.length > HISTORY_PAGE && oldestHolding === page[page.length - 1].revision;
  const created = older ? null : Math.min(...changes);
  const entries = [...changes].sort((a, b) => b - a).map((rev) => el("li", { "data-revision": String(rev) },
    el("span", { class: "time", text: fmtTime(when.get(rev)) }), " ",
    rev === created ? "Created" : "Changed", el("span", { class: "hint", text: ` (revision ${rev})` })));
  if (older) entries.push(el("li", { class: "hint", text: "Earlier changes are in older revisions (see Revisions)." }));
  list.replaceChildren(...entries);
  $("detail-created").replaceChildren(created === null
    ? document.createTextNode("before the oldest revision read")
    : el("span", { class: "time", text: fmtTime(when.get(created)) }));
  $("detail-changed").replaceChildren(el("span", { class: "time", text: fmtTime(when.get(item.revision)) }),
    el("span", { class: "hint", text: ` (revision ${item.revision})` }));
}

// An ssh-key: its private key is the "secret" (Show and Copy as for a token, kept to its
// lines when shown), and its public half, with Copy and where the host takes it, below.
async function renderSsh(item) {
  const ssh = item.kind === SSH_KEY;
  $("detail-ssh").hidden = $("detail-ssh-label").hidden = !ssh;
  $("detail-secret-label").textContent = ssh ? "Private key" : "Token";
  $("detail-secret").classList.toggle("multiline", ssh);
  if (ssh) $("detail-copy").setAttribute("aria-label", "Copy private key");
  else $("detail-copy").removeAttribute("aria-label");
  if (!ssh) return clearSshDetail();
  await renderSshDetail(item, () => shownId === item.id);
}

export function openDetail(item, badge) {
  shownId = item.id;
  const p = provider(item.kind);
  $("detail-mark").replaceChildren(mark(item.kind));
  $("detail-title").textContent = item.name;
  $("detail-sub").replaceChildren(...[p.label, badge].filter(Boolean).flatMap((x, i) => (i ? [" · ", x] : [x])));
  $("detail-kind").textContent = p.label;
  $("detail-host").textContent = hostOf(item) || "—";
  $("detail-username").textContent = item.username || "—";
  $("detail-scopes").replaceChildren(...(item.scopes.length
    ? item.scopes.map((s) => el("span", { class: "chip static", text: s }))
    : [document.createTextNode("—")]));
  $("detail-expires").textContent = item.expires || "No expiry set";
  $("detail-note").textContent = item.note || "—";
  $("detail-created").textContent = "…";
  $("detail-changed").textContent = `revision ${item.revision}`;
  hooks.reset();
  renderRunners(item);
  const dialog = $("item-detail");
  dialog.dataset.item = item.name;
  if (!dialog.open) dialog.showModal();
  const ssh = renderSsh(item);
  (item.kind === SSH_KEY ? $("detail-ssh-copy") : $("detail-copy")).focus();
  ssh.catch(fail);
  renderHistory(item).catch(fail);
}

export function shownItem() {
  return state.listing?.items?.find((i) => i.id === shownId) || null;
}

// hooks: {edit(item), remove(item), reveal(item, code, button), copy(item, status), reset()}
export function initDetail(h) {
  hooks = h;
  const dialog = $("item-detail");
  initSshDetail(fail);
  $("detail-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    hooks.reset();
    shownId = null;
  });
  $("detail-show").addEventListener("click", () => {
    const item = shownItem();
    if (item) hooks.reveal(item, $("detail-secret"), $("detail-show"));
  });
  $("detail-copy").addEventListener("click", () => {
    const item = shownItem();
    if (item) hooks.copy(item, $("detail-copy-status"));
  });
  $("detail-edit").addEventListener("click", () => {
    const item = shownItem();
    dialog.close();
    if (item) hooks.edit(item);
  });
  $("detail-remove").addEventListener("click", () => {
    const item = shownItem();
    dialog.close();
    if (item) hooks.remove(item);
  });
}
