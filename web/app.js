// Entry point: start the worker at once, then sign-in -> create or unlock -> the vault.
import { call, forgetAccess, hasSessionCookie, signIn, signOut, startSignIn } from "./api.js";
import {
  $, device, dropUnsaved, el, fail, notice, onListing, onView, rememberedVault, save, setListing,
  show, state, withKdf,
} from "./core.js";
import { ask, onEngineEvent, startEngine } from "./engine.js";

startEngine(); // Pyodide loads while the person signs in and types

// The unlocked sections (sections.js) load once the engine is ready: until then the page
// needs only sign-in, create and unlock, and the engine's start is what "ready to unlock"
// waits for. An unlock that comes first loads them itself.
let sections = null; // the module, once loaded and initialised
let loadingSections = null;
function loadSections() {
  loadingSections ??= import("./sections.js").then(
    (m) => {
      m.initSections({ isUnlocked: () => state.unlocked });
      sections = m;
      return m;
    },
    () => {
      loadingSections = null; // the next unlock tries again
      const err = new Error("Part of this page did not load from the server. Check your " +
        "connection and unlock again; nothing was lost.");
      err.code = "unreachable";
      throw err;
    },
  );
  return loadingSections;
}

onEngineEvent((s) => {
  if (s.ready || s.failed) loadSections().catch(fail);
  const text = $("engine-text");
  if (s.failed) {
    text.textContent = s.failed;
    $("engine").className = "engine failed";
  } else if (s.ready) {
    text.textContent = "Vault engine ready.";
    $("engine").dataset.ready = "1";
  } else {
    text.textContent = `Loading the vault engine… (${s.stage || "starting"})`;
  }
});

// The pairing code arrives in the URL fragment (never sent to any server); take it out of
// the address bar and history at once. It survives the sign-in redirect in sessionStorage
// only (a one-time, 10-minute code; removed as soon as it is read back).
// The link may also carry fp=, the fingerprint of the key the machine enrols with, and
// id=, the id of the pairing the machine created: kept with the code as "CODE|FP|ID" and
// checked against the key and the id the server hands over.
function takePairingCode() {
  let code = null;
  const m = location.hash.match(/code=([A-Za-z0-9-]{1,32})/);
  if (m) {
    const fp = location.hash.match(/fp=([A-Za-z0-9-]{1,64})/);
    const id = location.hash.match(/[#&]id=([A-Za-z0-9-]{1,64})/);
    code = [m[1], fp ? fp[1] : "", id ? id[1] : ""].join("|");
    history.replaceState(null, "", location.pathname);
  }
  const parked = sessionStorage.getItem("zkv-pair-code");
  if (parked) sessionStorage.removeItem("zkv-pair-code");
  return code || parked;
}

let pairingCode = takePairingCode();

// A one-time link opened while the app is already open only changes the fragment.
window.addEventListener("hashchange", () => {
  const code = takePairingCode();
  if (!code) return;
  if (state.unlocked) sections.openPairing(code);
  else {
    pairingCode = code;
    notice("Unlock your vault to approve the pairing.");
    $("unlock-pairing").hidden = $("view-unlock").hidden;
  }
});

// Below the desktop breakpoint the sections live behind a "Menu" button.
function setMenu(open) {
  $("menu").setAttribute("aria-expanded", String(open));
  $("nav").classList.toggle("open", open);
}
$("menu").addEventListener("click", () => setMenu($("menu").getAttribute("aria-expanded") !== "true"));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && $("nav").classList.contains("open")) {
    setMenu(false);
    $("menu").focus();
  }
});

// Who is signed in, in the top bar: "Name <email>" on a desktop; on a phone a line of
// its own under the bar, "Signed in as email". The email is split at its last "@" so that
// a long one loses the end of its local part to the ellipsis, never the domain that says
// which organisation it is. Screen readers get the whole of it as one sentence instead of
// those pieces (which they would read as separate lines).
function showWho(me) {
  const name = String(me.name || "").trim();
  const email = String(me.email || "").trim();
  const shown = [el("span", { class: "who-label", text: "Signed in as " })];
  if (name) shown.push(el("span", { class: email ? "who-name who-extra" : "who-name", text: name }));
  if (email) {
    const at = email.lastIndexOf("@");
    const cut = at > 0 ? at : email.length;
    const bracket = (text) => (name ? el("span", { class: "who-bracket", text }) : null);
    if (name) shown.push(" ");
    shown.push(el("span", { class: "who-email" }, bracket("<"),
      el("span", { class: "who-local", text: email.slice(0, cut) }),
      cut < email.length ? el("span", { class: "who-domain", text: email.slice(cut) }) : null,
      bracket(">")));
  }
  $("who").replaceChildren(
    el("span", { class: "sr-only", text: `Signed in as ${[name, email].filter(Boolean).join(", ")}` }),
    el("span", { class: "who-shown", "aria-hidden": "true" }, ...shown));
  $("who").hidden = !name && !email;
}

function setUnlockedChrome(unlocked) {
  $("nav").hidden = !unlocked;
  $("lock").hidden = !unlocked;
  $("menu").hidden = !unlocked;
  if (!unlocked) setMenu(false);
}

async function afterUnlock(listing) {
  const { focusItems, openPairing } = await loadSections(); // they render the listing
  state.unlocked = true;
  setListing(listing);
  setUnlockedChrome(true);
  $("unlock-pairing").hidden = true;
  if (pairingCode) {
    const code = pairingCode;
    pairingCode = null;
    openPairing(code);
  } else {
    show("items");
    const n = listing.items.length;
    notice(`Vault unlocked: ${n} credential${n === 1 ? "" : "s"}.`);
    focusItems();
  }
  armIdleLock();
}

// Nothing typed or shown while unlocked survives a lock or a lost session: tokens and
// passphrases in half-filled forms, open panels, revealed rows.
function wipeForms() {
  for (const input of document.querySelectorAll("main input, main textarea")) {
    if (input.type !== "checkbox") input.value = "";
  }
  for (const d of document.querySelectorAll("dialog[open]")) d.close();
  sections?.hideRevealed();
  sections?.setWaiting(null);
  for (const id of ["revision-details", "pair-details"]) $(id).hidden = true;
  $("grant-items").replaceChildren();
  $("revision-items").replaceChildren();
}

async function lock(reason) {
  // The worker forgets an edit the server has not taken yet along with the vault: say so.
  if (dropUnsaved() && reason) reason += " An edit the server had not taken yet was discarded.";
  await ask("lock").catch(() => {});
  state.unlocked = false;
  state.listing = null;
  setListing(null);
  setUnlockedChrome(false);
  wipeForms();
  show("unlock");
  if (reason) notice(reason);
  $("unlock-pass").focus();
  // Fetch the latest ciphertext now, so the next unlock sees other devices' changes; the
  // unlock form waits for it (a quick submit must not open the copy from before the lock).
  state.blobFetch = call("GET", "/api/vault").then((r) => { state.blob = r.blob; }, fail);
  await state.blobFetch;
}

// Automatic lock after idle time: any keyboard or pointer activity re-arms it.
let idleTimer = null;
function armIdleLock() {
  clearTimeout(idleTimer);
  if (!state.unlocked) return;
  const minutes = Number($("idle-minutes").value) || 5;
  idleTimer = setTimeout(() => lock("Locked after inactivity."), minutes * 60_000);
}
for (const ev of ["keydown", "pointerdown", "wheel"]) {
  document.addEventListener(ev, () => state.unlocked && armIdleLock(), { passive: true });
}
$("idle-minutes").addEventListener("change", armIdleLock);

onView("expired", () => {
  clearTimeout(idleTimer);
  dropUnsaved();
  ask("lock").catch(() => {});
  state.unlocked = false;
  setListing(null);
  wipeForms();
  forgetAccess();
  setUnlockedChrome(false);
  $("signout").hidden = true;
  $("who").hidden = true; // no longer signed in: the bar must not say otherwise
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-signin";
});

$("create-pass").addEventListener("input", debounce(async () => {
  const pass = $("create-pass").value;
  const out = $("create-strength");
  if (!pass) {
    out.textContent = "";
    return;
  }
  const s = await ask("strength", { passphrase: pass });
  if ($("create-pass").value !== pass) return;
  out.className = `hint ${s.acceptable ? "strong" : "weak"}`;
  out.textContent = s.acceptable
    ? `Strong enough: about 10^${s.guesses_log10} guesses (${s.crack_time} for an attacker at our key-derivation cost).`
    : s.reason;
}, 250));

$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const passphrase = $("create-pass").value;
  const confirm = $("create-confirm").value;
  try {
    const created = await withKdf("Creating your vault (Argon2id)…",
      ask("create", { account_id: state.accountId, passphrase, confirm, device: device() }));
    $("create-pass").value = "";
    $("create-confirm").value = "";
    await call("PUT", "/api/vault", { base_revision: 0, blob: created.blob });
    await ask("committed", { revision: created.revision });
    await afterUnlock(await ask("list"));
    notice("Vault created.");
  } catch (err) {
    fail(err);
  }
});

$("unlock-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const passphrase = $("unlock-pass").value;
  performance.mark("zkv-unlock-submit");
  $("unlock-submit").disabled = true;
  try {
    await state.blobFetch;
    if (!state.blob) state.blob = (await call("GET", "/api/vault")).blob;
    await ask("identify", rememberedVault());
    const listing = await withKdf("Unlocking (Argon2id)…",
      ask("unlock", { account_id: state.accountId, blob: state.blob, passphrase }));
    $("unlock-pass").value = "";
    $("unlock-recover").hidden = true;
    await afterUnlock(listing);
    performance.mark("zkv-unlocked");
  } catch (err) {
    // The copy that failed may be the server's doing (tampered, rolled back, weakened):
    // the next attempt fetches the vault again instead of retrying the same bytes.
    state.blob = null;
    state.blobFetch = null;
    $("unlock-pass").select();
    // A current revision that does not open can be restored over from history (a rolled-
    // back one cannot: that is the server serving an old copy, not a damaged one).
    $("unlock-recover").hidden = !DOES_NOT_OPEN.has(err.code);
    fail(err);
  } finally {
    $("unlock-submit").disabled = false;
  }
});

// vault_core's codes for a blob that does not open. A wrong passphrase is among them: a
// key slot overwritten with garbage reads as one (docs/threat-model.md).
const DOES_NOT_OPEN = new Set([
  "malformed", "non_canonical", "unsupported_version", "limit_exceeded", "invalid_item",
  "header_auth", "body_auth", "item_integrity", "item_missing", "item_duplicated",
  "item_replayed", "wrong_passphrase",
]);

$("unlock-recover-button").addEventListener("click", async () => {
  const button = $("unlock-recover-button");
  button.disabled = true;
  try {
    await ask("identify", rememberedVault());
    const { recoverNewest } = await loadSections();
    const recovered = await recoverNewest(state.accountId, $("unlock-pass").value);
    $("unlock-pass").value = "";
    $("unlock-recover").hidden = true;
    await afterUnlock(recovered);
    const saved = await save(recovered, { restoreFrom: recovered.restored_from });
    notice(`The current revision did not open. Restored the credentials of revision ` +
      `${recovered.restored_from} as revision ${saved.revision}.`);
  } catch (err) {
    fail(err);
  } finally {
    button.disabled = false;
  }
});

$("passphrase-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const args = { current: $("pp-current").value, new: $("pp-new").value, confirm: $("pp-confirm").value };
  try {
    const result = await withKdf("Re-wrapping your vault key (Argon2id)…", ask("change_passphrase", args));
    await save(result);
    for (const id of ["pp-current", "pp-new", "pp-confirm"]) $(id).value = "";
    notice("Passphrase changed. Use the new one from now on, on every device.");
  } catch (err) {
    fail(err);
  }
});

$("lock").addEventListener("click", () => lock("Locked."));
$("signout").addEventListener("click", async () => {
  await ask("lock").catch(() => {});
  try {
    await signOut();
  } finally {
    location.assign("/");
  }
});
$("signin-link").addEventListener("click", (event) => {
  event.preventDefault(); // the link alone cannot prove this browser's key
  if (pairingCode) sessionStorage.setItem("zkv-pair-code", pairingCode);
  startSignIn().catch(fail);
});
for (const b of document.querySelectorAll("#nav button")) {
  b.addEventListener("click", () => {
    setMenu(false);
    show(b.dataset.view);
  });
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args).catch(fail), ms);
  };
}

// A profile that has not seen this vault before (docs/web.md): say when and by which
// device it was last saved, and seal nothing until the person says it is their current one.
function showFresh(listing) {
  const box = $("fresh");
  const fresh = Boolean(state.unlocked && listing?.needs_confirmation);
  box.hidden = !fresh;
  if (!fresh) return;
  const last = listing.last_save;
  const when = last ? new Date(last.at) : null;
  $("fresh-text").textContent = when && !Number.isNaN(when.getTime())
    ? `This browser has not seen this vault before. It was last saved on ${when.toLocaleString(undefined,
      { dateStyle: "long", timeStyle: "short" })} by ${last.by}.`
    : "This browser has not seen this vault before. Its last save does not record when or by which device " +
      "(it was saved by an older version of zkvault).";
  box.dataset.savedAt = last ? last.at : "";  // the authenticated time, for reports and tests
}
onListing(showFresh);

$("fresh-confirm").addEventListener("click", async () => {
  try {
    setListing(await ask("confirm"));
    notice("Confirmed: this browser now treats this as your current vault.");
  } catch (err) {
    fail(err);
  }
});

async function start() {
  if (!hasSessionCookie()) {
    show("signin");
    if (pairingCode) notice("Sign in to approve the pairing.");
    return;
  }
  try {
    state.accountId = await signIn();
    state.me = await call("GET", "/api/me");
  } catch (err) {
    show("signin");
    if (err.code !== "session_expired") fail(err);
    return;
  }
  showWho(state.me);
  $("signout").hidden = false;
  try {
    state.blob = (await call("GET", "/api/vault")).blob;
    show("unlock");
    // A pairing link opened while locked: say what the unlock is for.
    $("unlock-pairing").hidden = !pairingCode;
    performance.mark("zkv-unlock-view");
    $("unlock-pass").focus();
  } catch (err) {
    if (err.code === "no_vault") {
      show("create");
      $("create-pass").focus();
    } else {
      show("unlock");
      fail(err);
    }
  }
}

start().catch(fail);
