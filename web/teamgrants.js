// Runner grants of team credentials (docs/web.md, "Teams"), for a team's admins and
// owners: one of their own runners, pinned in their personal vault when they approved it
// (as under Machines & runners), gets chosen team items, sealed in the worker to that
// pinned key and signed with their grant key at the team log's verified head. The grant
// ends when the grantor stops being an admin: the server deletes it, and the runner
// refuses it from the log itself. The list shows every grant of the team and who made it.
import { call } from "./api.js";
import { $, el, fmtTime, notice, state } from "./core.js";
import { ask } from "./engine.js";
import { confirmDialog } from "./ui.js";

const pane = { teamId: null, seq: 0, grants: [], runners: [] };
const hexOf = (text) => String(text || "").replace(/-/g, "").toLowerCase();

function ensurePane() {
  if ($("team-grants")) return;
  const box = el("div", { id: "team-grants", hidden: true },
    el("h3", { id: "team-grants-title", text: "Runners with team credentials" }),
    el("p", { class: "hint", text: "Grant one of your runners team credentials. They are sealed in this browser to the runner key you approved under Machines & runners, and the grant ends when you stop being an admin of the team." }),
    el("ul", { id: "team-grants-list", class: "list", "aria-labelledby": "team-grants-title" }),
    el("form", { id: "team-grant-form", novalidate: true, autocomplete: "off" },
      el("label", { for: "team-grant-runner", text: "Runner (yours, approved in this vault)" }),
      el("select", { id: "team-grant-runner" }),
      el("fieldset", { id: "team-grant-items", class: "checks" },
        el("legend", { text: "Team credentials it gets" })),
      el("button", { type: "submit", class: "primary small", text: "Grant" })));
  $("team-leave").closest("p").before(box);
  $("team-grant-form").addEventListener("submit", (e) => {
    e.preventDefault();
    grant().catch((err) => pane.refuse?.(err, "Runner grant"));
  });
}

// The runners this account may grant to: listed by the server, pinned in the personal
// vault, and revoked neither on the server nor in the vault. The worker checks the pin
// again when it seals (an unpinned or revoked runner is refused there too).
function grantable(runners) {
  const pins = state.listing?.pins || {};
  const revoked = state.listing?.revoked || {};
  return runners.filter((r) => pins[r.id] && !r.revoked_at && !revoked[r.id]);
}

const runnerName = (id) => state.listing?.pin_names?.[id] || pane.runners.find((r) => r.id === id)?.name || "";

function renderList(view) {
  const people = new Map(view.members.map((m) => [hexOf(m.account_id), m.me ? "you" : m.email]));
  const mine = hexOf(state.accountId);
  const list = $("team-grants-list");
  list.replaceChildren(...pane.grants.map((g) => {
    const grantor = people.get(hexOf(g.grantor_id)) || "a former admin";
    const own = hexOf(g.grantor_id) === mine;
    const name = own ? runnerName(g.runner_id) || "A runner of yours" : `A runner of ${grantor}`;
    return el("li", { class: "item", "data-grant-runner": g.runner_id, "data-grantor": grantor },
      el("div", { class: "item-main" }, el("strong", { text: name }),
        el("span", { class: "item-meta", text: `Granted by ${grantor} · revision ${g.revision} · ${fmtTime(g.updated_at)}` })),
      own ? el("button", { type: "button", class: "small danger", text: "Remove", "aria-label": `Remove the grant of ${name}`,
        on: { click: () => removeGrant(view, g, name).catch((err) => pane.refuse(err, "Runner grant")) } }) : null);
  }));
  if (!pane.grants.length) list.append(el("li", { class: "hint", text: "No runner has credentials of this team." }));
}

// Drawn again whenever the lists reload: what the person already chose (runner, items)
// stays chosen, so a reload landing between choosing and Grant never grants another runner.
function renderForm(view) {
  const select = $("team-grant-runner");
  const chosen = select.value;
  const box = $("team-grant-items");
  const ticked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  const runners = grantable(pane.runners);
  select.replaceChildren(...runners.map((r) => el("option", { value: r.id, text: runnerName(r.id) || r.name })));
  if (!runners.length) select.append(el("option", { value: "", text: "No approved runner: enrol one under Machines & runners" }));
  if (runners.some((r) => r.id === chosen)) select.value = chosen;
  select.disabled = !runners.length;
  box.replaceChildren(el("legend", { text: "Team credentials it gets" }), ...view.items.map((item) => {
    const id = `team-grant-${item.id}`;
    const input = el("input", { type: "checkbox", id, value: item.id });
    input.checked = ticked.has(item.id);
    return el("label", { for: id }, input, ` ${item.name}`);
  }));
  if (!view.items.length) box.append(el("p", { class: "hint", text: "The team has no credential yet." }));
  $("team-grant-form").querySelector('button[type="submit"]').disabled = !runners.length || !view.items.length;
}

async function load(view) {
  const seq = ++pane.seq;
  const [grants, runners] = await Promise.all([
    call("GET", `/api/teams/${view.team_id}/grants`), call("GET", "/api/runners")]);
  if (seq !== pane.seq || pane.teamId !== view.team_id) return;
  pane.grants = grants;
  pane.runners = runners;
  renderList(view);
  renderForm(view);
}

// Seal at the next revision of this runner's grant of the team; a revision another tab
// took first (409) is read again and the seal made once more above it.
async function grant() {
  const view = pane.view;
  const runner = pane.runners.find((r) => r.id === $("team-grant-runner").value);
  const itemIds = [...$("team-grant-items").querySelectorAll("input:checked")].map((i) => i.value);
  if (!runner) throw new Error("Choose one of your approved runners.");
  if (!itemIds.length) throw new Error("Choose the team credentials the runner gets.");
  for (let attempt = 0; ; attempt++) {
    const current = pane.grants.find((g) => g.runner_id === runner.id);
    // Never below the clock in seconds: an ungrant deletes the server's row, and the runner
    // refuses any revision below one it opened (docs/teams.md, Runners).
    const revision = Math.max((current?.revision || 0) + 1, Math.floor(Date.now() / 1000));
    const sealed = await ask("team_seal_grant", {
      team_id: view.team_id, runner_id: runner.id, public_key: runner.public_key || "", revision, item_ids: itemIds,
    });
    try {
      await call("PUT", `/api/teams/${view.team_id}/grants/${runner.id}`, { revision, blob: sealed.blob });
      break;
    } catch (err) {
      if (attempt || err.code !== "revision_conflict") throw err;
      await load(view);
    }
  }
  await load(view);
  notice(`Granted “${runnerName(runner.id) || runner.name}” ${itemIds.length} credential${itemIds.length === 1 ? "" : "s"} of team ${view.name}.`);
}

async function removeGrant(view, g, name) {
  const sure = await confirmDialog({
    title: `Remove the grant of “${name}”?`,
    body: `The runner stops receiving credentials of team ${view.name} at its next sync. What it already read stays with it.`,
    confirm: "Remove grant",
  });
  if (!sure) return;
  await call("DELETE", `/api/teams/${view.team_id}/grants/${g.runner_id}`);
  await load(view);
  notice(`Removed the grant of “${name}”.`);
}

// The team changed in this tab (an item added or removed): the form offers its items now.
export function updateTeamGrants(view) {
  if (pane.teamId !== view.team_id || !$("team-grants")) return;
  pane.view = view;
  renderList(view);
  renderForm(view);
}

export function hideTeamGrants() {
  pane.teamId = null;
  pane.view = null;
  pane.seq += 1;
  if (!$("team-grants")) return;
  $("team-grants").hidden = true;
  $("team-grants-list").replaceChildren();
}

// Show the pane for `view` (an admin's or owner's, by the verified log); `refuse` shows an
// error as teams.js does.
export async function showTeamGrants(view, refuse) {
  ensurePane();
  pane.teamId = view.team_id;
  pane.view = view;
  pane.refuse = refuse;
  $("team-grants").hidden = false;
  try {
    await load(view);
  } catch (err) {
    refuse(err, "Runner grants");
  }
}
