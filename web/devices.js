// Machines and runners: list, rename, revoke; pairing approval by code or link; runner
// grants, sealed in the worker to the runner's public key and resealed when items change.
import { call } from "./api.js";
import { $, edit, el, fail, fmtAgo, fmtTime, focusOn, notice, onView, show, state } from "./core.js";
import { ask } from "./engine.js";

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

async function rename(kind, client) {
  const name = prompt(`New name for ${client.name}`, client.name);
  if (!name || name === client.name) return;
  await call("PATCH", `/api/${kind}s/${client.id}`, { name });
  notice(`Renamed to “${name}”.`);
  await renderDevices();
  focusOn(document.querySelector(`#${kind}s-body [data-id="${client.id}"]`));
}

async function revoke(kind, client) {
  if (!confirm(`Revoke ${client.name}? It loses access at its next request.`)) return;
  await call("DELETE", `/api/${kind}s/${client.id}`);
  // The server deleted a revoked runner's grant; drop it from the vault's bookkeeping
  // too, so it is neither shown nor resealed.
  if (kind === "runner" && state.listing?.grants?.[client.id]?.length) {
    if ((await edit("set_grants", { runner_id: client.id, item_ids: [] })) === null) {
      await renderDevices(); // revoked all the same; the error on saving stays shown
      return;
    }
  }
  notice(`Revoked “${client.name}”.`);
  await renderDevices();
  focusOn(document.querySelector(`#${kind}s-body [data-id="${client.id}"]`));
}

function actions(kind, client) {
  const cell = el("div", { class: "item-actions" });
  if (client.revoked_at) return cell;
  // Promise.resolve().then: a handler may be synchronous (openGrant) or async.
  const btn = (text, label, fn, cls = "small quiet") =>
    el("button", { type: "button", class: cls, "aria-label": label, text,
      on: { click: () => Promise.resolve().then(fn).catch(fail) } });
  if (kind === "runner") cell.append(btn("Grant items", `Grant items to ${client.name}`, () => openGrant(client), "small primary-soft"));
  cell.append(btn("Rename", `Rename ${client.name}`, () => rename(kind, client)));
  cell.append(btn("Revoke", `Revoke ${client.name}`, () => revoke(kind, client), "small quiet danger-text"));
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

function card(kind, c, details) {
  const badge = c.revoked_at
    ? el("span", { class: "badge bad", text: `Revoked ${fmtTime(c.revoked_at)}` })
    : el("span", { class: "badge ok", text: "Active" });
  return el("li", { class: `item device${c.revoked_at ? " revoked" : ""}`, [`data-${kind}`]: c.name, "data-id": c.id },
    deviceIcon(kind),
    el("div", { class: "item-main" },
      el("p", { class: "item-name", text: c.name }),
      el("p", { class: "item-meta", text: details }),
      el("p", { class: "item-meta mono fingerprint", text: c.fingerprint, title: "Fingerprint" })),
    el("div", { class: "item-side" }, badge),
    actions(kind, c));
}

async function renderDevices() {
  const [machines, runners] = await Promise.all([call("GET", "/api/machines"), call("GET", "/api/runners")]);
  state.clients = { machines, runners };
  $("machines-body").replaceChildren(...machines.map((m) =>
    card("machine", m, `Paired ${fmtTime(m.created_at)} · Last seen ${fmtAgo(m.last_seen_at)}`)));
  const grants = state.listing?.grants || {};
  $("runners-body").replaceChildren(...runners.map((r) =>
    card("runner", r, r.revoked_at ? "Its grant was deleted." : `Gets: ${grantSummary(grants[r.id] || [])}`)));
  $("machines-empty").hidden = machines.length > 0;
  $("runners-empty").hidden = runners.length > 0;
  return { machines, runners };
}

function grantSummary(ids) {
  const names = (state.listing?.items || []).filter((i) => ids.includes(i.id)).map((i) => i.name);
  return names.length ? names.join(", ") : "nothing yet";
}

function openGrant(runner) {
  granting = runner;
  const chosen = new Set(state.listing?.grants?.[runner.id] || []);
  $("grant-legend").textContent = `Items “${runner.name}” gets`;
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

// Seal the runner's chosen items to its key and upload, at the next grant revision.
async function sealAndUpload(runner) {
  const revision = (runner.grant_revision || 0) + 1;
  const sealed = await ask("seal_grant", { runner_id: runner.id, public_key: runner.public_key, revision });
  await call("PUT", `/api/runners/${runner.id}/grant`, { revision, blob: sealed.blob });
  return sealed.items;
}

export async function resealAffected(itemId) {
  const grants = state.listing?.grants || {};
  const affected = Object.keys(grants).filter((r) => grants[r].includes(itemId));
  if (!affected.length) return;
  try {
    const runners = await call("GET", "/api/runners");
    for (const r of runners.filter((x) => affected.includes(x.id) && !x.revoked_at)) await sealAndUpload(r);
    notice(`Updated the grants of ${affected.length} runner(s) too.`);
  } catch (err) {
    fail(err);
  }
}

async function lookup(code) {
  pending = null;
  $("pair-details").hidden = true;
  // Spaces inside or around the code are ignored, as docs/pairing.md says.
  if (!CODE.test(normaliseCode(code))) throw new Error("A pairing code looks like ABCDE-FGHIJ (ten letters or digits).");
  const info = await call("POST", "/api/pairings/lookup", { code: normaliseCode(code) });
  pending = { ...info, code: normaliseCode(code) };
  $("pair-kind").textContent = info.kind === "runner" ? "Runner (unattended build machine)" : "Machine (laptop or workstation)";
  $("pair-name").textContent = info.name;
  $("pair-fingerprint").textContent = info.fingerprint;
  $("pair-expires").textContent = fmtTime(info.expires_at);
  $("pair-newname").value = info.name;
  $("pair-details").hidden = false;
  $("pair-approve").focus();
}

export function openPairing(code) {
  show("pair");
  $("pair-code").value = code;
  lookup(code).catch(fail);
}

async function approve() {
  if (!pending) return;
  if (!isUnlocked()) throw new Error("Unlock your vault first.");
  const body = { code: pending.code, name: $("pair-newname").value.trim() || pending.name };
  if (pending.kind === "runner") body.grant_public_key = (await ask("owner_key")).public_key;
  const done = await call("POST", "/api/pairings/approve", body);
  $("pair-details").hidden = true;
  $("pair-code").value = "";
  pending = null;
  notice(`Approved “${body.name}” (${done.fingerprint}). It will finish pairing by itself.`);
  focusOn($("pair-code"));
}

async function refuse() {
  if (!pending) return;
  await call("POST", "/api/pairings/refuse", { code: pending.code });
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
    $("pair-code").focus();
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
      if ((await edit("set_grants", { runner_id: runner.id, item_ids: ids })) === null) return;
      const count = await sealAndUpload(runner);
      await renderDevices();
      $("grant-dialog").close();
      notice(`Granted ${count} item(s) to “${runner.name}”, sealed to its key.`);
    } catch (err) {
      fail(err);
    }
  });
}
