// Machines and runners: list, rename, revoke; pairing approval by code or link; runner
// grants, sealed in the worker to the runner's public key and resealed when items change.
import { call } from "./api.js";
import { $, edit, el, fail, fmtTime, notice, onView, show, state } from "./core.js";
import { ask } from "./engine.js";

const CODE = /^[A-Za-z0-9]{5}-?[A-Za-z0-9]{5}$/;
let pending = null; // the looked-up pairing
let granting = null; // the runner whose grant form is open
let isUnlocked = () => false;

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
}

async function revoke(kind, client) {
  if (!confirm(`Revoke ${client.name}? It loses access at its next request.`)) return;
  await call("DELETE", `/api/${kind}s/${client.id}`);
  notice(`Revoked “${client.name}”.`);
  await renderDevices();
}

function actions(kind, client) {
  const cell = el("td");
  if (client.revoked_at) return cell;
  const btn = (text, label, fn) =>
    el("button", { type: "button", "aria-label": label, text, on: { click: () => fn().catch(fail) } });
  cell.append(btn("Rename", `Rename ${client.name}`, () => rename(kind, client)));
  if (kind === "runner") cell.append(btn("Grant items", `Grant items to ${client.name}`, () => openGrant(client)));
  cell.append(btn("Revoke", `Revoke ${client.name}`, () => revoke(kind, client)));
  return cell;
}

async function renderDevices() {
  const [machines, runners] = await Promise.all([call("GET", "/api/machines"), call("GET", "/api/runners")]);
  const status = (c) => (c.revoked_at ? `revoked ${fmtTime(c.revoked_at)}` : "active");
  $("machines-body").replaceChildren(...machines.map((m) =>
    el("tr", { "data-machine": m.name, class: m.revoked_at ? "revoked" : null },
      el("td", { text: m.name }), el("td", { class: "mono", text: m.fingerprint }),
      el("td", { text: fmtTime(m.created_at) }), el("td", { text: fmtTime(m.last_seen_at) }),
      el("td", { text: status(m) }), actions("machine", m))));
  const grants = state.listing?.grants || {};
  $("runners-body").replaceChildren(...runners.map((r) =>
    el("tr", { "data-runner": r.name, class: r.revoked_at ? "revoked" : null },
      el("td", { text: r.name }), el("td", { class: "mono", text: r.fingerprint }),
      el("td", { text: grantSummary(grants[r.id] || []) }),
      el("td", { text: status(r) }), actions("runner", r))));
  return { machines, runners };
}

function grantSummary(ids) {
  const names = (state.listing?.items || []).filter((i) => ids.includes(i.id)).map((i) => i.name);
  return names.length ? names.join(", ") : "none";
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
  $("grant-form").hidden = false;
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
}

async function refuse() {
  if (!pending) return;
  await call("POST", "/api/pairings/refuse", { code: pending.code });
  notice(`Refused the pairing request from “${pending.name}”.`);
  $("pair-details").hidden = true;
  $("pair-code").value = "";
  pending = null;
}

export function initDevices(opts) {
  isUnlocked = opts.isUnlocked;
  onView("devices", renderDevices);
  onView("pair", async () => {
    $("pair-code").focus();
  });
  $("pair-form").addEventListener("submit", (e) => {
    e.preventDefault();
    lookup($("pair-code").value).catch(fail);
  });
  $("pair-approve").addEventListener("click", () => approve().catch(fail));
  $("pair-refuse").addEventListener("click", () => refuse().catch(fail));
  $("grant-cancel").addEventListener("click", () => {
    $("grant-form").hidden = true;
    granting = null;
  });
  $("grant-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const runner = granting;
    const ids = [...$("grant-items").querySelectorAll("input:checked")].map((i) => i.value);
    try {
      if (!(await edit("set_grants", { runner_id: runner.id, item_ids: ids }))) return;
      const count = await sealAndUpload(runner);
      $("grant-form").hidden = true;
      granting = null;
      notice(`Granted ${count} item(s) to “${runner.name}”, sealed to its key.`);
      await renderDevices();
    } catch (err) {
      fail(err);
    }
  });
}
