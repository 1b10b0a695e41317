// Machines and runners: list, rename, revoke; pairing approval by code or link; runner
// grants, sealed in the worker to the runner key pinned in the vault at approval and
// resealed when items change. Every fingerprint shown is computed in the worker from the
// key itself; the server's own "fingerprint" field is never displayed (docs/pairing.md).
import { call } from "./api.js";
import { $, edit, el, fail, fmtAgo, fmtTime, focusOn, notice, onView, show, state } from "./core.js";
import { ask } from "./engine.js";
import { isExpired, setWaiting } from "./inbox.js";
import { confirmDialog } from "./ui.js";

const CODE = /^[A-Za-z0-9]{5}-?[A-Za-z0-9]{5}$/;
let pending = null; // the looked-up pairing
let granting = null; // the runner whose grant form is open
let isUnlocked = () => false;
let refreshTimer = null; // re-reads the lists while the view is open ("Last seen" moves)
const REFRESH_MS = 30_000;

function normaliseCode(raw) {
  const c = raw.trim().toUpperCase().replace(/\s+/g, "");
  return c.length === 10 ? `${c.slice(0, 5)}-${c.slice(5)}` : c;
}

// A runner's name as the owner approved (or renamed) it, from its pin in the vault; the
// name the server lists is the server's word, shown beside it only when it differs.
const pinnedName = (r) => state.listing?.pin_names?.[r.id] || "";
const runnerName = (r) => pinnedName(r) || r.name;

async function rename(kind, client) {
  const current = kind === "runner" ? runnerName(client) : client.name;
  const name = prompt(`New name for ${current}`, current);
  if (!name || name === current) return;
  await call("PATCH", `/api/${kind}s/${client.id}`, { name });
  // The pin carries the name the page shows: it follows the rename (same key).
  if (kind === "runner" && pinnedName(client) && (await edit("rename_pin", { runner_id: client.id, name })) === null) {
    await renderDevices();
    return;
  }
  notice(`Renamed to “${name}”.`);
  await renderDevices();
  focusOn(document.querySelector(`#${kind}s-body [data-id="${client.id}"]`));
}

// Revoking is recorded in the vault first (its pin and grants go, and no pairing, pin or
// seal to its id or key is ever made again from any device, whatever the server lists),
// then on the server. A runner is recorded with the key pinned at approval; a machine
// with the key this page was shown for it (the list's, whose fingerprint it displays).
async function revoke(kind, client) {
  const name = kind === "runner" ? runnerName(client) : client.name;
  const sure = await confirmDialog({
    title: `Revoke ${name}?`,
    body: kind === "runner"
      ? "It loses access at its next request, and its grant is deleted. To use it again, enrol it again."
      : "It loses access at its next request. To use it again, run zkvault connect on it again.",
    confirm: "Revoke",
  });
  if (!sure) return;
  let recorded = true;
  if (!revokedInVault(client)) {
    const args = { kind, device_id: client.id, public_key: client.public_key || "", name };
    recorded = (await edit("revoke", args)) !== null; // the error, if any, stays shown
  }
  if (!client.revoked_at) await call("DELETE", `/api/${kind}s/${client.id}`);
  if (recorded) notice(`Revoked “${name}”.`);
  await renderDevices();
  focusOn(document.querySelector(`#${kind}s-body [data-id="${client.id}"]`));
}

// The vault's record of a revocation (never the server's word).
const revokedInVault = (c) => state.listing?.revoked?.[c.id] || null;

function actions(kind, client) {
  const cell = el("div", { class: "item-actions" });
  const name = kind === "runner" ? runnerName(client) : client.name;
  if (client.revoked_at) return cell;
  // Promise.resolve().then: a handler may be synchronous (openGrant) or async.
  const btn = (text, label, fn, cls = "small quiet") =>
    el("button", { type: "button", class: cls, "aria-label": label, text,
      on: { click: () => Promise.resolve().then(fn).catch(fail) } });
  const revokeButton = btn("Revoke", `Revoke ${name}`, () => revoke(kind, client), "small quiet danger-text");
  if (revokedInVault(client)) { // revoked in the vault, still active on the server: finish it
    cell.append(revokeButton);
    return cell;
  }
  if (kind === "runner") cell.append(btn("Grant items", `Grant items to ${name}`, () => openGrant(client), "small primary-soft"));
  cell.append(btn("Rename", `Rename ${name}`, () => rename(kind, client)));
  cell.append(revokeButton);
  return cell;
}

const deviceIcon = (kind) => {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `mark mark-${kind}`);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const rect = document.createElementNS(svg.namespaceURI, "rect");
  for (const [k, v] of Object.entries({ width: 24, height: 24, rx: 6, class: "tile" })) rect.setAttribute(k, v);
  const path = document.createElementNS(svg.namespaceURI, "path");
  path.setAttribute("class", "glyph");
  path.setAttribute("d", kind === "runner"
    ? "M6 7h12v10H6zM9 11l2 2-2 2M13 15h3"
    : "M6 7h12v8H6zM4 18h16");
  svg.append(rect, path);
  return svg;
};

// The fingerprint of a key as the worker computes it (never the server's copy).
async function localFingerprint(keyType, publicKey) {
  if (!publicKey) return "";
  try {
    return (await ask("fingerprint", { key_type: keyType, public_key: publicKey })).fingerprint;
  } catch {
    return "(not a valid key)";
  }
}

// A runner's fingerprint line: the key pinned at approval, with a warning when the key the
// server lists now is another one (nothing is ever sealed to that key).
function runnerKeyLine(r, shown) {
  const pinned = state.listing?.pins?.[r.id];
  if (!pinned) return el("p", { class: "item-meta mono fingerprint", text: `${shown} (not pinned: enrol again to grant)` });
  if (pinned !== shown) {
    return el("p", { class: "item-meta mono fingerprint warning", "data-key-mismatch": "1",
      text: `${pinned} — WARNING: the server now lists another key (${shown}); grants stay sealed to ${pinned} only` });
  }
  return el("p", { class: "item-meta mono fingerprint", text: pinned, title: "Fingerprint" });
}

function card(kind, c, details, keyLine) {
  const recorded = revokedInVault(c);
  const badge = c.revoked_at || recorded
    ? el("span", { class: "badge bad", "data-revoked": recorded ? "vault" : "server",
      text: `Revoked ${fmtTime(c.revoked_at || recorded.at)}` })
    : el("span", { class: "badge ok", text: "Active" });
  // The server lists as active what the vault says was revoked: said, and nothing follows.
  const unrevoked = recorded && !c.revoked_at
    ? el("p", { class: "item-meta warning", "data-revoked-mismatch": "1",
      text: `WARNING: the server lists this ${kind} as active, but you revoked it on ${fmtTime(recorded.at)}; ` +
        "nothing is sealed or approved to it. Revoke it again to tell the server." })
    : null;
  const name = kind === "runner" ? runnerName(c) : c.name;
  // A runner the server lists under another name than its pin's: said, never taken.
  const relabelled = kind === "runner" && pinnedName(c) && c.name !== pinnedName(c)
    ? el("p", { class: "item-meta warning", "data-name-mismatch": "1",
      text: `WARNING: the server lists this runner as “${c.name}”; you approved it as “${name}”` })
    : null;
  return el("li", { class: `item device${c.revoked_at || recorded ? " revoked" : ""}`, [`data-${kind}`]: name, "data-id": c.id },
    deviceIcon(kind),
    el("div", { class: "item-main" },
      el("p", { class: "item-name", text: name }),
      relabelled,
      unrevoked,
      el("p", { class: "item-meta", text: details }),
      keyLine),
    el("div", { class: "item-side" }, badge),
    actions(kind, c));
}

async function renderDevices() {
  const [machines, runners] = await Promise.all([call("GET", "/api/machines"), call("GET", "/api/runners")]);
  state.clients = { machines, runners };
  const mfp = await Promise.all(machines.map((m) => localFingerprint("machine", m.public_key)));
  const rfp = await Promise.all(runners.map((r) => localFingerprint("runner", r.public_key)));
  $("owner-fingerprint").textContent = state.listing?.owner_fingerprint || "(unlock to see it)";
  const machineCards = machines.map((m, i) =>
    card("machine", m, `Paired ${fmtTime(m.created_at)} · Last seen ${fmtAgo(m.last_seen_at)}`,
      el("p", { class: "item-meta mono fingerprint", text: mfp[i], title: "Fingerprint" })));
  fold("machines", machines, machineCards);
  const grants = state.listing?.grants || {};
  // A damaged pins or grants record (typed error from the worker): said here, the rest works.
  $("runners-damaged").textContent = (state.listing?.damaged || []).map((d) => d.message).join(" ");
  const runnerCards = runners.map((r, i) =>
    card("runner", r, r.revoked_at || revokedInVault(r) ? "Its grant was deleted." : `Gets: ${grantSummary(grants[r.id] || [])}`,
      runnerKeyLine(r, rfp[i])));
  fold("runners", runners, runnerCards);
  $("machines-empty").hidden = machines.length > 0;
  $("runners-empty").hidden = runners.length > 0;
  return { machines, runners };
}

// Revoked more than a day ago (on the server and in the vault alike): folded under
// "Revoked earlier", so the list shows what is in use. A revocation the server does not
// know of yet stays in view with its WARNING.
const FOLD_AFTER_MS = 86_400_000;
function fold(kind, clients, cards) {
  const old = (c) => {
    const at = c.revoked_at ? new Date(c.revoked_at).getTime() : NaN;
    return Date.now() - at > FOLD_AFTER_MS;
  };
  $(`${kind}-body`).replaceChildren(...cards.filter((_, i) => !old(clients[i])));
  const folded = cards.filter((_, i) => old(clients[i]));
  $(`${kind}-old`).replaceChildren(...folded);
  $(`${kind}-folded`).hidden = !folded.length;
  $(`${kind}-folded-summary`).textContent =
    `${folded.length} ${kind === "runners" ? "runner" : "machine"}${folded.length === 1 ? "" : "s"} revoked earlier`;
}

function grantSummary(ids) {
  const names = (state.listing?.items || []).filter((i) => ids.includes(i.id)).map((i) => i.name);
  return names.length ? names.join(", ") : "nothing yet";
}

function openGrant(runner) {
  granting = runner;
  const chosen = new Set(state.listing?.grants?.[runner.id] || []);
  $("grant-legend").textContent = `Items “${runnerName(runner)}” gets`;
  $("grant-items").replaceChildren(...state.listing.items.map((item) => {
    const id = `grant-${item.id}`;
    return el("label", { for: id },
      el("input", { type: "checkbox", id, value: item.id, checked: chosen.has(item.id) }),
      item.name);
  }));
  $("grant-dialog").querySelector(".dialog-error").hidden = true;
  if (!$("grant-dialog").open) $("grant-dialog").showModal();
  $("grant-items").querySelector("input")?.focus();
}

// Seal the runner's chosen items to its pinned key and upload, at the next grant revision.
// The key the server lists is passed only to be compared: the worker refuses (key_mismatch)
// when it is not the pinned one, and nothing is sealed or uploaded.
async function sealAndUpload(runner) {
  const revision = (runner.grant_revision || 0) + 1;
  const sealed = await ask("seal_grant", { runner_id: runner.id, public_key: runner.public_key, revision });
  await call("PUT", `/api/runners/${runner.id}/grant`, { revision, blob: sealed.blob });
  return sealed.items;
}

// `done` is what the person just did ("Saved “x”."): the notice says it, then the reseal.
export async function resealAffected(itemId, done) {
  const grants = state.listing?.grants || {};
  const affected = Object.keys(grants).filter((r) => grants[r].includes(itemId));
  if (!affected.length) return;
  try {
    const runners = await call("GET", "/api/runners");
    // One runner the worker refuses to seal to (a listed key not its pinned one, a
    // revoked id or key, a browser that has not confirmed the vault) must not hold up the
    // others; each refusal is skipped and reported, and nothing is sealed to it.
    const refused = [];
    for (const r of runners.filter((x) => affected.includes(x.id) && !x.revoked_at)) {
      try {
        await sealAndUpload(r);
      } catch (err) {
        refused.push({ runner: r, err });
      }
    }
    if (refused.length) {
      const first = refused[0].err;
      const names = refused.map(({ runner }) => `“${runnerName(runner)}”`).join(", ");
      const err = new PairingError(first.code || "error",
        `${done} Not resealed for ${names}: ${first.message}`.trim());
      throw err;
    }
    // Said with what the person did, unless something newer is on show by now (the
    // reseal runs on while they go on working): never overwrite a later message.
    if ($("notice").textContent === done) {
      notice(`${done} Updated the grants of ${affected.length} runner(s) too.`);
    }
  } catch (err) {
    fail(err);
  }
}

class PairingError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// A browser new to the vault seals and approves nothing until the person confirmed the
// last save shown in the banner (the worker refuses too; this says it before any edit).
function requireConfirmed() {
  if (!state.listing?.needs_confirmation) return;
  $("fresh")?.scrollIntoView?.({ block: "nearest" });
  throw new PairingError("unconfirmed",
    "This browser has not seen this vault before: confirm the last save shown above " +
    "(“This is my current vault”) before granting or approving anything.");
}

// expected / expectedId: the fingerprint and the pairing id carried by the one-time link's
// fragment (empty when the code was typed). The key the server hands over must have exactly
// that fingerprint, and the pairing exactly that id: the id is what the runner's key is
// pinned under, so a server answering with another client's id is refused here.
async function lookup(code, expected = "", expectedId = "") {
  pending = null;
  $("pair-details").hidden = true;
  setWaiting(null);
  // Spaces inside or around the code are ignored, as docs/pairing.md says.
  if (!CODE.test(normaliseCode(code))) throw new Error("A pairing code looks like ABCDE-FGHIJ (ten letters or digits).");
  const info = await call("POST", "/api/pairings/lookup", { code: normaliseCode(code) });
  if (info.kind !== "runner" && info.kind !== "machine") throw new PairingError("bad_key", "The server sent an unknown kind of pairing.");
  const fp = await ask("fingerprint", { key_type: info.kind, public_key: info.public_key, expected });
  if (expected && !fp.matches) {
    throw new PairingError("pairing_key_mismatch",
      `Refused: the key the server presents for this code (${fp.fingerprint}) is not the one your link names ` +
      `(${expected}). Someone else's request is behind this code, or the server is lying. Do not approve; ` +
      "run the command on your machine again.");
  }
  if (expectedId && String(info.pairing_id) !== expectedId) {
    throw new PairingError("pairing_id_mismatch",
      `Refused: the server presents this code as pairing ${String(info.pairing_id).slice(0, 64)}, but your link names ` +
      `pairing ${expectedId}. Approving would file this machine under another device's identity. ` +
      "Do not approve; the server may be compromised. Run the command on your machine again.");
  }
  pending = { ...info, code: normaliseCode(code), fingerprint: fp.fingerprint };
  $("pair-kind").textContent = info.kind === "runner" ? "Runner (unattended build machine)" : "Machine (laptop or workstation)";
  $("pair-name").textContent = info.name;
  $("pair-fingerprint").textContent = fp.fingerprint;
  $("pair-check").textContent = expected
    ? "✓ This key matches the fingerprint in the link you followed."
    : "Approve only if this fingerprint matches the one your machine shows.";
  $("pair-check").dataset.verified = expected ? "link" : "compare";
  const owner = info.kind === "runner" ? state.listing?.owner_fingerprint || "" : "";
  $("pair-owner-fingerprint").textContent = owner;
  $("pair-owner-fingerprint").hidden = $("pair-owner-label").hidden = !owner;
  $("pair-newname").value = info.name;
  // What happens after "Approve": a runner waits for its operator to confirm your grant key.
  $("pair-next").textContent = info.kind === "runner"
    ? "After you approve, the runner waits for its operator to confirm your grant-key fingerprint (shown above) on the runner; only then does it take grants."
    : "After you approve, the machine finishes pairing by itself; unlock it there with your passphrase.";
  $("pair-details").hidden = false;
  setWaiting(info);
  // The name first, never Approve: Enter, Enter must not approve a request unread.
  $("pair-newname").focus();
}

export function openPairing(link) {
  const [code, expected = "", expectedId = ""] = link.split("|");
  show("pair");
  $("pair-code").value = code;
  lookup(code, expected, expectedId).catch(fail);
}

async function approve() {
  if (!pending || isExpired()) return;
  if (!isUnlocked()) throw new Error("Unlock your vault first.");
  const body = { code: pending.code, name: $("pair-newname").value.trim() || pending.name };
  const shown = pending.fingerprint;
  requireConfirmed();
  if (pending.kind === "machine") {
    // A machine is sent the vault key's wrapping at its first unlock: approve only a key
    // and id this vault has never revoked (key_revoked), from a confirmed browser.
    await ask("check_sealable", { device_id: String(pending.pairing_id), public_key: pending.public_key });
  }
  if (pending.kind === "runner") {
    // Pin first, inside the vault: if that save fails, nothing is approved. The runner's
    // id is the pairing's id (the server creates the runner under it). The worker refuses
    // (id_taken) an id already pinned or naming a runner or machine listed now: a pin is
    // never replaced (an approval retried after its pin was saved is refused too: run the
    // command again, which makes a new pairing).
    const [machines, runners] = await Promise.all([call("GET", "/api/machines"), call("GET", "/api/runners")]);
    const known_ids = [...machines, ...runners].map((c) => String(c.id));
    const pin = { runner_id: pending.pairing_id, public_key: pending.public_key, name: body.name, known_ids };
    if ((await edit("pin_runner", pin)) === null) return; // not pinned (error shown): no approval
    body.grant_public_key = (await ask("owner_key")).public_key;
  }
  await call("POST", "/api/pairings/approve", body);
  const kind = pending.kind;
  setWaiting(null);
  $("pair-details").hidden = true;
  $("pair-code").value = "";
  pending = null;
  notice(kind === "runner"
    ? `Approved “${body.name}” (${shown}). The runner is now waiting for its operator to confirm your ` +
      `grant-key fingerprint (${state.listing?.owner_fingerprint || "see Settings"}) on the runner; then grant it items here.`
    : `Approved “${body.name}” (${shown}). It will finish pairing by itself.`);
  focusOn($("pair-code"));
}

async function refuse() {
  if (!pending || isExpired()) return;
  await call("POST", "/api/pairings/refuse", { code: pending.code });
  setWaiting(null);
  notice(`Refused the pairing request from “${pending.name}”.`);
  $("pair-details").hidden = true;
  $("pair-code").value = "";
  pending = null;
  focusOn($("pair-code"));
}

export function initDevices(opts) {
  isUnlocked = opts.isUnlocked;
  $("connect-cmd").textContent = `zkvault connect --server ${location.origin}`;
  $("enroll-cmd").textContent = `zkvault runner enroll --server ${location.origin} --name ci-1`;
  onView("devices", async () => {
    clearInterval(refreshTimer);
    refreshTimer = setInterval(() => {
      if ($("view-devices").hidden || !isUnlocked()) clearInterval(refreshTimer);
      else if (!$("grant-dialog").open) renderDevices().catch(() => {});
    }, REFRESH_MS);
    await renderDevices();
  });
  onView("pair", async () => {
    (pending ? $("pair-newname") : $("pair-code")).focus();
  });
  $("pair-howto-connect").textContent = `zkvault connect --server ${location.origin}`;
  $("pair-howto-enroll").textContent = `zkvault runner enroll --server ${location.origin} --name ci-1`;
  $("pair-new").addEventListener("click", () => {
    const open = $("pair-howto").hidden;
    $("pair-howto").hidden = !open;
    $("pair-new").setAttribute("aria-expanded", String(open));
  });
  $("pair-form").addEventListener("submit", (e) => {
    e.preventDefault();
    lookup($("pair-code").value).catch(fail);
  });
  $("pair-approve").addEventListener("click", () => approve().catch(fail));
  $("pair-refuse").addEventListener("click", () => refuse().catch(fail));
  $("grant-cancel").addEventListener("click", () => $("grant-dialog").close());
  // Escape, Cancel or Save: back to the runner the form was opened for.
  $("grant-dialog").addEventListener("close", () => {
    const runner = granting;
    granting = null;
    if (runner) focusOn(document.querySelector(`#runners-body [data-id="${runner.id}"]`));
  });
  $("grant-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const runner = granting;
    const ids = [...$("grant-items").querySelectorAll("input:checked")].map((i) => i.value);
    try {
      requireConfirmed();
      if ((await edit("set_grants", { runner_id: runner.id, item_ids: ids })) === null) return;
      const count = await sealAndUpload(runner);
      await renderDevices();
      $("grant-dialog").close();
      notice(`Granted ${count} item(s) to “${runnerName(runner)}”, sealed to its key.`);
    } catch (err) {
      fail(err);
    }
  });
}
