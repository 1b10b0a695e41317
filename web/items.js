// Credentials: list (no secrets) with search, filter and expiry warnings; add/edit/remove
// in a dialog that knows each provider; reveal for a few seconds; copy with a visible
// countdown to the clipboard being cleared. A secret reaches the page only on "Show" or
// "Copy", and is dropped after.
import { $, edit, el, fail, focusOn, notice, onListing, state } from "./core.js";
import { ask } from "./engine.js";
import { resealAffected } from "./devices.js";
import { initDetail, openDetail } from "./itemdetail.js";
import { hostOf, mark, provider } from "./providers.js";
import { copyPublicKey, initSshForm, resetSshForm, SSH_KEY, sshArgs, sshForm } from "./sshkeys.js";
import { actionMenu, confirmDialog } from "./ui.js";

const REVEAL_MS = 15_000;
const MASK = "••••••••";
const SOON_DAYS = 14; // "expires soon" from this many days ahead
const DAY_MS = 86_400_000;
let editing = null; // item id being edited, or null for a new one
let formGeneration = 0; // bumped whenever the form is (re)opened
let formKind = "github"; // the kind the form's default host was last filled for
let kindChosen = false; // the person chose the kind (or the item has one): never changed for them
let classifying = 0; // bumped per token check: only the latest answer is shown
let clipboard = null; // {timer, ticker, status}: the pending clear, one at a time

const FIELDS = ["name", "kind", "url", "username", "scopes", "expires", "note"];

const clipboardSeconds = () => Number($("clipboard-seconds").value) || 30;

// Days from today (local) to the expiry date: negative once it has passed.
export function daysLeft(expires, now = Date.now()) {
  if (!expires) return null;
  const [y, m, d] = expires.split("-").map(Number);
  const today = new Date(now);
  const start = Date.UTC(today.getFullYear(), today.getMonth(), today.getDate());
  return Math.round((Date.UTC(y, m - 1, d) - start) / DAY_MS);
}

function expiryBadge(item) {
  const days = daysLeft(item.expires);
  if (days === null) return null;
  let text;
  let tone = "muted";
  if (days < 0) {
    tone = "bad";
    text = days === -1 ? "Expired yesterday" : `Expired ${-days} days ago`;
  } else if (days <= SOON_DAYS) {
    tone = "warn";
    text = days === 0 ? "Expires today" : days === 1 ? "Expires tomorrow" : `Expires in ${days} days`;
  } else {
    const [y, m, d] = item.expires.split("-").map(Number);
    const date = new Date(y, m - 1, d).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
    text = `Expires ${date}`;
  }
  return el("span", { class: `badge ${tone}`, text });
}

const needsAttention = (item) => {
  const days = daysLeft(item.expires);
  return days !== null && days <= SOON_DAYS;
};

function clearClipboardLater(status) {
  if (clipboard) {
    clearInterval(clipboard.ticker);
    clearTimeout(clipboard.timer);
    clipboard.status.textContent = "";
  }
  const total = clipboardSeconds();
  const until = Date.now() + total * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    status.textContent = `Copied. The clipboard is cleared in ${left} s.`;
  };
  tick();
  clipboard = {
    status,
    ticker: setInterval(tick, 1000),
    timer: setTimeout(() => {
      clearInterval(clipboard.ticker);
      navigator.clipboard.writeText("").catch(() => {});
      status.textContent = "Clipboard cleared.";
      clipboard = null;
    }, total * 1000),
  };
}

// What is on show, each with the function that masks it again: after REVEAL_MS, when the
// window loses focus (another app, a screen share picker) or the tab is hidden.
const revealed = new Set();
export function hideRevealed() {
  for (const hide of [...revealed]) hide();
}
window.addEventListener("blur", hideRevealed);
document.addEventListener("visibilitychange", () => document.hidden && hideRevealed());
const hiders = new WeakMap(); // button -> the hide function of what it revealed

// Show the token in `code` on request; `button` becomes its "Hide" (a row's appears only
// while the token shows: `data-autohide`).
async function reveal(item, code, button) {
  if (hiders.has(button)) return hiders.get(button)();
  const { secret } = await ask("reveal", { item_id: item.id });
  let timer = null;
  const hide = () => {
    clearTimeout(timer);
    revealed.delete(hide);
    hiders.delete(button);
    code.textContent = MASK;
    button.textContent = "Show";
    button.setAttribute("aria-pressed", "false");
    if (button.dataset.autohide) button.hidden = true;
  };
  code.textContent = secret;
  button.textContent = "Hide";
  button.setAttribute("aria-pressed", "true");
  button.hidden = false;
  timer = setTimeout(hide, REVEAL_MS);
  revealed.add(hide);
  hiders.set(button, hide);
}

// Copy without showing: the secret goes from the worker to the clipboard, never the page.
async function copySecret(item, status) {
  try {
    const { secret } = await ask("reveal", { item_id: item.id });
    await navigator.clipboard.writeText(secret);
    const what = item.kind === SSH_KEY ? "Private key" : "Token";
    notice(`${what} of “${item.name}” copied; the clipboard is cleared in ${clipboardSeconds()} s.`);
    clearClipboardLater(status);
  } catch (err) {
    fail(err.name === "NotAllowedError" ? new Error("The browser refused clipboard access.") : err);
  }
}

function row(item) {
  const p = provider(item.kind);
  const secretCell = el("code", { class: "secret", "aria-live": "polite", text: MASK });
  const copyStatus = el("p", { class: "copy-status", role: "status" });
  const hideBtn = el("button", { type: "button", class: "small quiet", "aria-label": `Hide token of ${item.name}`,
    "data-autohide": "1", hidden: true, text: "Hide" });
  const run = (fn) => () => Promise.resolve().then(fn).catch(fail);
  hideBtn.addEventListener("click", run(() => reveal(item, secretCell, hideBtn)));
  // An SSH key's frequent action is copying its public half (to a host); its private key
  // is shown or copied only from its details.
  const ssh = item.kind === SSH_KEY;
  const copyBtn = el("button", { type: "button", class: "small primary-soft",
    "aria-label": ssh ? `Copy public key of ${item.name}` : `Copy token of ${item.name}`, text: "Copy" });
  copyBtn.addEventListener("click", ssh
    ? run(async () => copyPublicKey((await ask("ssh_public_key", { item_id: item.id })).public_key, copyStatus))
    : () => copySecret(item, copyStatus));
  const details = () => openDetail(item, expiryBadge(item));
  const menu = actionMenu(`More actions for ${item.name}`, [
    { text: "Details", label: `Details of ${item.name}`, run: details },
    ssh ? null : { text: "Show token", label: `Show token of ${item.name}`, run: run(() => hiders.has(hideBtn) || reveal(item, secretCell, hideBtn)) },
    { text: "Edit", label: `Edit ${item.name}`, run: () => openForm(item) },
    { text: "Remove", label: `Remove ${item.name}`, danger: true, run: run(() => remove(item)) },
  ].filter(Boolean));
  const nameBtn = el("button", { type: "button", class: "item-name link", "aria-label": `${item.name}: details`, text: item.name,
    on: { click: details } });
  const meta = [p.label, hostOf(item), item.username].filter(Boolean).join(" · ");
  return el("li", { class: "item", "data-item": item.name, "data-id": item.id },
    mark(item.kind),
    el("div", { class: "item-main" },
      nameBtn,
      el("p", { class: "item-meta", text: meta }),
      copyStatus),
    el("div", { class: "item-side" }, expiryBadge(item), el("span", { class: "secret-line" }, secretCell, hideBtn)),
    el("div", { class: "item-actions" }, copyBtn, menu));
}

async function remove(item) {
  const sure = await confirmDialog({
    title: `Remove “${item.name}”?`,
    body: "Machines and runners lose it at their next sync. Earlier revisions keep it for a while, so it can be restored from Revisions.",
    confirm: "Remove",
  });
  if (!sure) return;
  const rows = [...$("items-body").children];
  const at = rows.findIndex((r) => r.dataset.id === item.id);
  const note = await edit("remove", { item_id: item.id });
  if (note === null) return;
  const done = `${note}Removed “${item.name}”.`;
  notice(done);
  // Focus the credential that took its place (or the one before, or "Add").
  const left = [...$("items-body").children];
  focusOn(left[Math.min(at, left.length - 1)] || $("item-new"));
  await resealAffected(item.id, done);
}

function matches(item, query, filter) {
  if (filter === "attention" && !needsAttention(item)) return false;
  if (filter && filter !== "attention" && item.kind !== filter) return false;
  if (!query) return true;
  const hay = [item.name, item.url, hostOf(item), item.username, provider(item.kind).label, item.note]
    .join(" ").toLowerCase();
  return query.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
}

function render(listing) {
  const items = listing ? listing.items : [];
  const query = $("item-search").value.trim();
  const filter = $("item-filter").value;
  const shown = items.filter((i) => matches(i, query, filter));
  $("items-body").replaceChildren(...shown.map(row));
  $("items-empty").hidden = !listing || items.length > 0;
  $("items-nomatch").hidden = !items.length || shown.length > 0;
  $("items-nomatch-text").textContent = query
    ? `No credential matches “${query}”.`
    : "No credential matches this filter.";
  $("items-count").textContent = !items.length
    ? ""
    : shown.length === items.length
      ? `${items.length} stored`
      : `${shown.length} of ${items.length} shown`;
  const expired = items.filter((i) => daysLeft(i.expires) !== null && daysLeft(i.expires) < 0).length;
  const soon = items.filter(needsAttention).length - expired;
  const parts = [];
  if (expired) parts.push(`${expired} ${expired === 1 ? "token has" : "tokens have"} expired`);
  if (soon) parts.push(`${soon} ${soon === 1 ? "expires" : "expire"} within ${SOON_DAYS} days`);
  $("expiry-text").textContent = parts.length ? `${parts.join("; ")}. Rotate them before builds fail.` : "";
  $("expiry-banner").hidden = !parts.length || filter === "attention";
}

// The form follows the chosen kind: the host field's default and example, and hints on
// the username, the token's format and the scopes a build usually needs.
function applyKind({ check = true } = {}) {
  const kind = $("item-kind").value;
  const p = provider(kind);
  const url = $("item-url");
  if (!editing && (url.value === "" || url.value === provider(formKind).host)) url.value = p.host;
  formKind = kind;
  url.placeholder = p.placeholder;
  $("item-url-hint").textContent = p.urlHint || (p.host
    ? `Defaults to ${new URL(p.host).host}; change it for a self-hosted server.`
    : "Where the token is used, e.g. the server's address.");
  $("item-username-hint").textContent = p.username;
  $("item-scopes-hint").textContent = p.scopeHint;
  $("item-scope-chips").replaceChildren(...p.scopes.map((scope) =>
    el("button", { type: "button", class: "chip", "aria-label": `Add scope ${scope}`, text: `+ ${scope}`,
      on: { click: () => addScope(scope) } })));
  sshForm(kind, Boolean(editing));
  if (check) updateFormatHint();
}

function addScope(scope) {
  const field = $("item-scopes");
  const have = field.value.split(/[\s,]+/).filter(Boolean);
  if (!have.includes(scope)) field.value = [...have, scope].join(" ");
}

function showFormatHint(text, weak = false) {
  const out = $("item-format-hint");
  out.textContent = text;
  out.className = weak ? "hint weak" : "hint";
}

// The worker recognises the token (the page never parses a secret): a token of a published
// format picks the kind when the person has not chosen one, and a chosen kind that
// disagrees gets a warning. Answers that arrive after a newer keystroke are dropped.
async function updateFormatHint() {
  const kind = $("item-kind").value;
  const secret = $("item-secret").value;
  const seq = ++classifying;
  if (!secret) return showFormatHint(provider(kind).token);
  let result;
  try {
    result = await ask("classify_token", { kind, secret });
  } catch {
    return; // the hint is advice; saving still works (and reports any real error)
  }
  if (seq !== classifying || !$("item-dialog").open) return;
  if (result.kind && result.kind !== kind && !kindChosen && !editing) {
    $("item-kind").value = result.kind;
    applyKind({ check: false });
    return showFormatHint(`Recognised: ${result.label}. Kind set to ${provider(result.kind).label}.`);
  }
  if (result.warning) return showFormatHint(`${result.warning} Check the kind.`, true);
  const p = provider(kind);
  if (!result.kind && p.recognised) {
    return showFormatHint(`This does not look like a ${p.label} token (${p.token}) Saving is still allowed.`, true);
  }
  showFormatHint(result.label ? `Recognised: ${result.label}.` : "");
}

function openForm(item) {
  formGeneration += 1;
  editing = item ? item.id : null;
  $("item-form-title").textContent = item ? `Edit “${item.name}”` : "Add a credential";
  for (const f of FIELDS) {
    const v = item ? item[f] : "";
    $(`item-${f}`).value = Array.isArray(v) ? v.join(" ") : v || "";
  }
  if (!item) $("item-kind").value = "github";
  kindChosen = Boolean(item);
  formKind = $("item-kind").value;
  $("item-secret").value = "";
  $("item-secret").required = !item;
  $("item-secret-hint").textContent = item ? "Leave empty to keep the stored token." : "";
  resetSshForm(Boolean(item));
  applyKind();
  $("item-dialog").querySelector(".dialog-error").hidden = true;
  if (!$("item-dialog").open) $("item-dialog").showModal();
  (item ? $("item-name") : $("item-kind")).focus();
}

function closeForm() {
  if ($("item-dialog").open) $("item-dialog").close();
}

export function initItems() {
  onListing(render);
  initDetail({
    edit: openForm,
    remove: (item) => remove(item).catch(fail),
    reveal: (item, code, button) => reveal(item, code, button).catch(fail),
    copy: copySecret,
    reset: () => {
      const hide = hiders.get($("detail-show"));
      if (hide) hide();
    },
  });
  // The token being typed: masked unless the person asks to see it.
  $("item-secret-toggle").addEventListener("click", () => {
    const shown = $("item-secret").classList.toggle("masked") === false;
    $("item-secret-toggle").textContent = shown ? "Hide" : "Show";
    $("item-secret-toggle").setAttribute("aria-pressed", String(shown));
    $("item-secret-toggle").setAttribute("aria-label", shown ? "Hide what is typed" : "Show what is typed");
  });
  $("item-new").addEventListener("click", () => openForm(null));
  $("item-new-empty").addEventListener("click", () => openForm(null));
  $("item-cancel").addEventListener("click", closeForm);
  // Closing by Escape, Cancel or Save: the token typed so far goes with it.
  $("item-dialog").addEventListener("close", () => {
    $("item-secret").value = "";
    resetSshForm(false); // a pasted private key goes with the form
    $("item-secret").classList.add("masked");
    $("item-secret-toggle").textContent = "Show";
    $("item-secret-toggle").setAttribute("aria-pressed", "false");
    $("item-secret-toggle").setAttribute("aria-label", "Show what is typed");
    editing = null;
  });
  $("item-kind").addEventListener("change", () => {
    kindChosen = true; // the person's choice: a pasted token no longer changes it
    applyKind();
  });
  $("item-secret").addEventListener("input", updateFormatHint);
  initSshForm();
  $("item-search").addEventListener("input", () => render(state.listing));
  $("item-filter").addEventListener("change", () => render(state.listing));
  $("items-clear").addEventListener("click", () => {
    $("item-search").value = "";
    $("item-filter").value = "";
    render(state.listing);
    $("item-search").focus();
  });
  $("expiry-show").addEventListener("click", () => {
    $("item-filter").value = "attention";
    render(state.listing);
    focusOn($("items-body").firstElementChild);
  });
  $("item-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields = Object.fromEntries(FIELDS.map((f) => [f, $(`item-${f}`).value]));
    const ssh = fields.kind === SSH_KEY;
    let key = { secret: $("item-secret").value, generate: false };
    if (!fields.name.trim()) return fail(new Error("Give the credential a name."));
    if (ssh) {
      try {
        key = sshArgs(); // generate in the worker, keep, or the pasted key
      } catch (err) {
        return fail(err);
      }
    } else if (!editing && !key.secret) return fail(new Error("Enter the token to store."));
    const id = editing;
    const generation = formGeneration;
    const note = id
      ? await edit("update", { item_id: id, fields, ...key })
      : await edit("add", { fields, ...key });
    if (note === null) return;
    // Close it only if it was not reopened for another credential meanwhile.
    if (generation === formGeneration) closeForm();
    const done = `${note}${id ? "Saved" : "Added"} “${fields.name}”.`;
    notice(done);
    const saved = [...$("items-body").children].find((r) => r.dataset.item === fields.name);
    focusOn(saved || $("items-title"));
    // A new or replaced SSH key: its public half is what the person needs next.
    const stored = state.listing?.items?.find((i) => i.name === fields.name.trim());
    if (ssh && stored && (key.generate || key.secret)) openDetail(stored, expiryBadge(stored));
    if (id) await resealAffected(id, done);
  });
  render(state.listing);
}

// After unlocking: the search field when there is something to find, else "Add".
export function focusItems() {
  const any = state.listing?.items?.length;
  focusOn(any ? $("item-search") : $("item-new-empty"));
}
