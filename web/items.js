// Credentials: list (no secrets), add/edit/remove, reveal for a few seconds, copy with
// auto-clear. A secret reaches the page only on "Show" or "Copy", and is dropped after.
import { $, edit, el, fail, notice, onListing, state } from "./core.js";
import { ask } from "./engine.js";
import { resealAffected } from "./devices.js";

const REVEAL_MS = 15_000;
const CLIPBOARD_CLEAR_MS = 30_000;
let editing = null; // item id being edited, or null for a new one
let formGeneration = 0; // bumped whenever the form is (re)opened
let clipboardTimer = null;

const FIELDS = ["name", "kind", "url", "username", "scopes", "expires", "note"];

function row(item) {
  const secretCell = el("td", { class: "secret", "aria-live": "polite", text: "••••••••" });
  let hideTimer = null;
  const showBtn = el("button", { type: "button", "aria-label": `Show token of ${item.name}`, text: "Show" });
  showBtn.addEventListener("click", async () => {
    if (showBtn.dataset.shown) {
      clearTimeout(hideTimer);
      secretCell.textContent = "••••••••";
      showBtn.textContent = "Show";
      delete showBtn.dataset.shown;
      return;
    }
    try {
      const { secret } = await ask("reveal", { item_id: item.id });
      secretCell.textContent = secret;
      showBtn.textContent = "Hide";
      showBtn.dataset.shown = "1";
      hideTimer = setTimeout(() => showBtn.click(), REVEAL_MS);
    } catch (err) {
      fail(err);
    }
  });
  const copyBtn = el("button", { type: "button", "aria-label": `Copy token of ${item.name}`, text: "Copy" });
  copyBtn.addEventListener("click", async () => {
    try {
      const { secret } = await ask("reveal", { item_id: item.id });
      await navigator.clipboard.writeText(secret);
      notice(`Token of “${item.name}” copied; the clipboard is cleared in ${CLIPBOARD_CLEAR_MS / 1000} s.`);
      clearTimeout(clipboardTimer);
      clipboardTimer = setTimeout(() => navigator.clipboard.writeText("").catch(() => {}), CLIPBOARD_CLEAR_MS);
    } catch (err) {
      fail(err.name === "NotAllowedError" ? new Error("The browser refused clipboard access.") : err);
    }
  });
  const editBtn = el("button", { type: "button", "aria-label": `Edit ${item.name}`, text: "Edit" });
  editBtn.addEventListener("click", () => openForm(item));
  const removeBtn = el("button", { type: "button", "aria-label": `Remove ${item.name}`, text: "Remove" });
  removeBtn.addEventListener("click", async () => {
    if (!confirm(`Remove “${item.name}”? Earlier revisions keep it for a while.`)) return;
    if (await edit("remove", { item_id: item.id })) {
      notice(`Removed “${item.name}”.`);
      await resealAffected(item.id);
    }
  });
  return el("tr", { "data-item": item.name },
    el("td", { text: item.name }),
    el("td", { text: item.kind }),
    el("td", { text: item.url }),
    el("td", { text: item.username }),
    secretCell,
    el("td", { text: item.expires || "" }),
    el("td", {}, showBtn, copyBtn, editBtn, removeBtn));
}

function render(listing) {
  const body = $("items-body");
  body.replaceChildren(...(listing ? listing.items.map(row) : []));
  $("items-empty").hidden = !listing || listing.items.length > 0;
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
  $("item-secret").value = "";
  $("item-secret").required = !item;
  $("item-secret-hint").textContent = item ? "Leave empty to keep the stored token." : "";
  $("item-form").hidden = false;
  $("item-name").focus();
}

function closeForm() {
  $("item-form").hidden = true;
  $("item-secret").value = "";
  editing = null;
}

export function initItems() {
  onListing(render);
  $("item-new").addEventListener("click", () => openForm(null));
  $("item-cancel").addEventListener("click", closeForm);
  $("item-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields = Object.fromEntries(FIELDS.map((f) => [f, $(`item-${f}`).value]));
    const secret = $("item-secret").value;
    if (!fields.name.trim()) return fail(new Error("Give the credential a name."));
    if (!editing && !secret) return fail(new Error("Enter the token to store."));
    const id = editing;
    const generation = formGeneration;
    const ok = id
      ? await edit("update", { item_id: id, fields, secret })
      : await edit("add", { fields, secret });
    if (ok) {
      // Close it only if it was not reopened for another credential meanwhile.
      if (generation === formGeneration) closeForm();
      notice(id ? `Saved “${fields.name}”.` : `Added “${fields.name}”.`);
      if (id) await resealAffected(id);
    }
  });
  render(state.listing);
}
