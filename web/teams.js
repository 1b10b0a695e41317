// Teams (docs/web.md, "Teams"): the page side. The worker verifies every log entry and
// team vault, computes every safety number and holds every key; this module moves their
// public bytes and ciphertext to and from the server and shows names, roles and numbers.
import { call } from "./api.js";
import { $, el, fail, focusOn, notice, onListing, onView, save, state } from "./core.js";
import { confirmDialog } from "./ui.js";
import { ask } from "./engine.js";
import { hideTeamAudit, showTeamAudit } from "./teamaudit.js";
import { hideTeamGrants, showTeamGrants, updateTeamGrants } from "./teamgrants.js";
import { resetTeamSshForm, SSH_KEY, sshPublicBlock, teamSshArgs } from "./teamssh.js";

// What a lying server can cause here: what the worker says happened, and what to do.
const SERVER_LIES = new Set([
  "team_log", "team_log_gap", "team_log_fork", "team_log_rollback", "team_log_signature",
  "team_key", "team_key_check", "stale_epoch", "team_vault_signature", "identity_changed",
  "identity_auth", "identity_binding", "rollback", "fork", "wrong_vault", "header_auth",
  "body_auth", "item_missing", "item_duplicated", "malformed",
]);
const LIE_ADVICE =
  " Nothing was added, sealed or saved to this team from this browser. Compare the team" +
  " (its members and their safety numbers) on another member's device, and tell the" +
  " server's operator: the server may be compromised.";

function refuse(err, what) {
  const shown = new Error(`${what ? `${what}: ` : ""}${err?.message || String(err)}` +
    (SERVER_LIES.has(err?.code) ? LIE_ADVICE : ""));
  shown.code = err?.code;
  fail(shown);
}

const ROLE_WORDS = { owner: "Owner", admin: "Admin", writer: "Writer", reader: "Reader" };
const RANK = { reader: 0, writer: 1, admin: 2, owner: 3 };

const teams = {
  identity: null, // {account_id, bundle, safety_number}
  list: [], // the server's GET /api/teams "teams"
  views: new Map(), // team_id -> the worker's verified view
  refused: new Map(), // team_id -> the error that refused it
  current: null, // team_id shown in the detail card
};

const memoryKey = (teamId) => `zkv-team-memory:${state.accountId}:${teamId}`;
function remember(view) {
  if (view?.team_memory && view.team_id) localStorage.setItem(memoryKey(view.team_id), view.team_memory);
}

// -- identity -------------------------------------------------------------------------------

// Make the identity (a personal-vault save) if there is none, and make sure the server
// publishes exactly this browser's bundle.
async function ensureIdentity() {
  const made = await ask("identity_ensure");
  if (made.made) await save(made);
  const mine = await ask("identity");
  let served = null;
  try {
    served = await call("GET", `/api/identity/${mine.account_id}`);
  } catch (err) {
    if (err.status !== 404) throw err;
  }
  if (!served || served.bundle !== mine.bundle) await call("PUT", "/api/identity", { bundle: mine.bundle });
  teams.identity = mine;
  $("my-safety-number").textContent = mine.safety_number;
  return mine;
}

// Without an identity there can be no team: unlocking never makes one (a save).
async function identityIfAny() {
  try {
    teams.identity = await ask("identity");
    $("my-safety-number").textContent = teams.identity.safety_number;
    return teams.identity;
  } catch (err) {
    if (err.code === "no_identity") return null;
    throw err;
  }
}

// -- loading --------------------------------------------------------------------------------

async function openTeam(teamId) {
  const [log, vault] = await Promise.all([
    call("GET", `/api/teams/${teamId}/log?after=0`),
    call("GET", `/api/teams/${teamId}/vault`),
  ]);
  try {
    const view = await ask("team_open", {
      team_id: teamId, entries: log.entries, blob: vault.blob,
      memory: localStorage.getItem(memoryKey(teamId)),
    });
    remember(view);
    teams.views.set(teamId, view);
    teams.refused.delete(teamId);
    return view;
  } catch (err) {
    teams.views.delete(teamId);
    teams.refused.set(teamId, err);
    throw err;
  }
}

async function loadTeams({ openAll = true } = {}) {
  const got = await call("GET", "/api/teams");
  teams.list = got.teams;
  renderInvitations(got.invitations);
  let firstRefusal = null;
  if (openAll) {
    for (const t of got.teams) {
      try {
        await openTeam(t.team_id);
      } catch (err) {
        firstRefusal ??= { err, name: t.name };
      }
    }
  }
  renderList();
  renderTeamCredentials();
  if (firstRefusal) refuse(firstRefusal.err, `Team “${firstRefusal.name}” was refused`);
}

// After unlocking: open the teams of an account that has an identity, for the team items
// shown beside the personal ones. Locking forgets them (the worker closes every team).
let loaded = false;
onListing((listing) => {
  if (!listing) {
    loaded = false;
    teams.views.clear();
    teams.refused.clear();
    teams.identity = null;
    teams.current = null;
    $("team-detail").hidden = true;
    hideTeamAudit();
    hideTeamGrants();
    $("my-safety-number").textContent = "(open this section to see it)";
    renderTeamCredentials();
    return;
  }
  if (loaded) return;
  loaded = true;
  identityIfAny().then((id) => (id ? loadTeams() : null)).catch((err) => refuse(err));
});

// Every visit reads the teams again from the server (another member may have changed
// them); data-loaded says when that is done (for people: the list stops changing; tests).
onView("teams", async () => {
  delete $("view-teams").dataset.loaded;
  try {
    await ensureIdentity();
    await loadTeams();
    if (teams.current && teams.views.has(teams.current)) await showTeam(teams.current);
  } catch (err) {
    refuse(err);
  } finally {
    $("view-teams").dataset.loaded = "1";
  }
});

// -- the teams list and invitations for me ----------------------------------------------------

function renderList() {
  const list = $("teams-list");
  list.replaceChildren();
  for (const t of teams.list) {
    const view = teams.views.get(t.team_id);
    const refused = teams.refused.get(t.team_id);
    const status = refused
      ? el("span", { class: "badge bad", text: `Refused (${refused.code})` })
      : el("span", { class: "badge muted", text: ROLE_WORDS[view?.role || t.role] || t.role });
    const count = view ? `${view.members.length} member${view.members.length === 1 ? "" : "s"}, ` +
      `${view.items.length} credential${view.items.length === 1 ? "" : "s"}` : "";
    list.append(el("li", { class: "item team-row", "data-team": t.name },
      el("div", { class: "item-main" }, el("strong", { text: t.name }), el("span", { class: "item-meta", text: count })),
      status,
      el("button", { type: "button", class: "small", text: "Open", on: { click: () => showTeam(t.team_id).catch((e) => refuse(e)) } })));
  }
  $("teams-empty").hidden = teams.list.length > 0;
}

function renderInvitations(invitations) {
  const list = $("my-invitations");
  list.replaceChildren();
  const open = invitations.filter((i) => i.status === "pending" || i.status === "accepted");
  $("my-invitations-box").hidden = open.length === 0;
  for (const inv of open) {
    const actions = inv.status === "pending"
      ? [el("button", { type: "button", class: "primary small", text: "Accept", on: { click: () => acceptInvitation(inv) } }),
        el("button", { type: "button", class: "quiet small", text: "Decline", on: { click: () => declineInvitation(inv) } })]
      : [el("span", { class: "badge ok", text: "Accepted: waiting for an admin to add you" }),
        el("button", { type: "button", class: "small", text: "Show safety numbers", on: { click: () => showInviteeNumbers(inv) } })];
    list.append(el("li", { class: "item", "data-invitation": inv.team_name },
      el("div", { class: "item-main" }, el("strong", { text: inv.team_name }),
        el("span", { class: "item-meta", text: `as ${ROLE_WORDS[inv.role] || inv.role}` })),
      ...actions));
  }
}

async function acceptInvitation(inv) {
  try {
    await ensureIdentity();
    await call("POST", `/api/invitations/${inv.invitation_id}/accept`);
    await loadTeams({ openAll: false });
    await showInviteeNumbers(inv);
  } catch (err) {
    refuse(err);
  }
}

async function declineInvitation(inv) {
  try {
    await call("POST", `/api/invitations/${inv.invitation_id}/decline`);
    await loadTeams({ openAll: false });
    notice(`Declined the invitation to “${inv.team_name}”.`);
  } catch (err) {
    refuse(err);
  }
}

// The invitee's half of the comparison: their own number to read out, and the inviter's
// as this browser computes it from the key the server serves, to compare with theirs.
async function showInviteeNumbers(inv) {
  const mine = teams.identity || (await ensureIdentity());
  let theirs = "";
  try {
    const served = await call("GET", `/api/identity/${inv.invited_by}`);
    theirs = (await ask("contact_lookup", { account_id: inv.invited_by, email: "", bundle: served.bundle })).safety_number;
  } catch (err) {
    theirs = `(not available: ${err.message})`;
  }
  openNumbers({
    title: `Joining “${inv.team_name}”`,
    intro: "Read your safety number to the person who invited you; they add you once it matches the one their screen shows. Compare theirs with the number they read to you.",
    theirsLabel: "The inviter's safety number",
    theirs, mine: mine.safety_number, pinned: "", typed: false,
  });
}

// -- the safety-number dialog (both sides) -----------------------------------------------------

let numbersDone = null;
function openNumbers({ title, intro, theirsLabel, theirs, mine, pinned, typed, onMatch, onTofu }) {
  $("sn-title").textContent = title;
  $("sn-intro").textContent = intro;
  $("sn-theirs-label").textContent = theirsLabel;
  $("sn-theirs").textContent = theirs;
  $("sn-mine").textContent = mine;
  $("sn-pinned").textContent = pinned || "";
  $("sn-typed").value = "";
  $("sn-typed-box").hidden = !typed;
  $("sn-tofu").hidden = !onTofu;
  $("sn-confirm").textContent = onMatch ? (typed ? "Numbers match" : "Add") : "Done";
  numbersDone = { onMatch, onTofu };
  $("sn-dialog").querySelector(".dialog-error").hidden = true;
  $("sn-dialog").showModal();
  if (typed) $("sn-typed").focus();
}

$("sn-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const done = numbersDone;
  if (!done?.onMatch) {
    $("sn-dialog").close();
    return;
  }
  try {
    await done.onMatch($("sn-typed").value.trim());
    $("sn-dialog").close();
  } catch (err) {
    refuse(err);
  }
});
$("sn-tofu").addEventListener("click", async () => {
  try {
    await numbersDone.onTofu();
    $("sn-dialog").close();
  } catch (err) {
    refuse(err);
  }
});
$("sn-cancel").addEventListener("click", () => $("sn-dialog").close());

// -- one team ---------------------------------------------------------------------------------

async function showTeam(teamId) {
  teams.current = teamId;
  const view = teams.views.get(teamId) || (await openTeam(teamId));
  renderTeam(view);
  $("team-detail").hidden = false;
  if (RANK[view.role] >= RANK.admin) {
    await renderTeamInvitations(teamId);
    await showTeamGrants(view, refuse);
    await showTeamAudit(view, refuse);
  }
  focusOn($("team-name"));
}

function verifiedText(m, view) {
  const by = m.added_by && m.verified !== "self" ? ` by ${m.added_by}` : "";
  const mine = m.me ? "" : m.contact === "changed" ? " · WARNING: not the key you checked"
    : m.contact === "fingerprint" ? " · you compared numbers" : m.contact === "tofu" ? " · you trusted it on first use" : "";
  return `${m.verified_text}${by}${mine}`;
}

function renderTeam(view) {
  const admin = RANK[view.role] >= RANK.admin;
  const owner = view.role === "owner";
  $("team-name").textContent = view.name;
  $("team-facts").textContent = `Your role: ${ROLE_WORDS[view.role]} · key epoch ${view.epoch} · ` +
    `membership log entry ${view.seq} · vault revision ${view.revision}`;
  $("team-detail").dataset.team = view.team_id;
  $("team-detail").dataset.role = view.role;
  const left = view.left_since_rotation.length;
  $("team-left").hidden = !(admin && left);
  $("team-left-text").textContent = `${left} member${left === 1 ? "" : "s"} left since the key last changed and still know it.`;
  const body = $("team-members");
  body.replaceChildren();
  for (const m of view.members) {
    const role = (admin && !m.me && (owner || m.role !== "owner"))
      ? roleSelect(view, m, owner) : el("span", { text: ROLE_WORDS[m.role] });
    const actions = el("td", { class: "actions" });
    if (!m.me && m.contact !== "fingerprint") {
      actions.append(el("button", { type: "button", class: "small quiet", text: "Compare", on: { click: () => compareMember(view, m) } }));
    }
    if (admin && !m.me && (owner || m.role !== "owner")) {
      actions.append(el("button", { type: "button", class: "small danger", text: "Remove", on: { click: () => removeMember(view, m) } }));
    }
    body.append(el("tr", { "data-member": m.email, "data-role": m.role },
      el("td", {}, el("span", { text: m.email }), m.me ? el("span", { class: "badge muted", text: "you" }) : null),
      el("td", {}, role),
      el("td", { class: "mono fingerprint safety", text: m.safety_number }),
      el("td", { class: m.contact === "changed" ? "warning" : "", text: verifiedText(m, view) }),
      actions));
  }
  $("team-admin").hidden = !admin;
  if (!admin) {
    hideTeamAudit();
    hideTeamGrants();
  } else updateTeamGrants(view);
  $("team-item-new").hidden = RANK[view.role] < RANK.writer;
  renderTeamItems(view);
}

function roleSelect(view, m, owner) {
  const select = el("select", { "aria-label": `Role of ${m.email}` });
  for (const r of ["reader", "writer", "admin", "owner"]) {
    if (r === "owner" && !owner) continue;
    const opt = el("option", { value: r, text: ROLE_WORDS[r] });
    if (r === m.role) opt.selected = true;
    select.append(opt);
  }
  select.addEventListener("change", () => changeRole(view, m, select.value));
  return select;
}

// Make a membership change in the worker and append it (with the vault it re-sealed or
// re-signed, in the same request: the server stores both or neither). On any refusal the
// team is opened again from the server, so what is shown is what it holds, verified; if
// the refusal was only that another member changed the team first (log_conflict,
// revision_conflict), the same change is made once more on top of theirs.
const CONFLICTS = new Set(["log_conflict", "revision_conflict"]);
async function changeMembers(teamId, op, args) {
  for (let attempt = 0; ; attempt++) {
    const t0 = performance.now();
    const change = await ask(op, { team_id: teamId, ...args });
    const t1 = performance.now();
    try {
      const body = { entry: change.entry };
      if (change.vault) Object.assign(body, { vault: change.vault, base_revision: change.base_revision });
      await call("POST", `/api/teams/${teamId}/log`, body);
    } catch (err) {
      await openTeam(teamId).catch(() => {});
      if (attempt || !CONFLICTS.has(err.code)) throw err;
      continue;
    }
    remember(change);
    teams.views.set(teamId, change);
    renderList();
    renderTeamCredentials();
    change.timing = { worker: Math.round(t1 - t0), upload: Math.round(performance.now() - t1) };
    return change;
  }
}

async function changeRole(view, m, role) {
  try {
    renderTeam(await changeMembers(view.team_id, "team_change_role", { account_id: m.account_id, role }));
    notice(`${m.email} is now ${ROLE_WORDS[role]}.`);
  } catch (err) {
    refuse(err);
    if (teams.views.has(view.team_id)) renderTeam(teams.views.get(view.team_id));
  }
}

async function removeMember(view, m) {
  const sure = await confirmDialog({
    title: `Remove ${m.email} from “${view.name}”?`,
    body: "The team key changes and every credential is encrypted again. What they could read before stays with them: rotate those tokens at their provider.",
    confirm: "Remove member",
  });
  if (!sure) return;
  try {
    const change = await changeMembers(view.team_id, "team_remove_member", { account_id: m.account_id });
    const t2 = performance.now();
    renderTeam(change);
    showExposed(m.email, change.exposed);
    // Where the time went (benchmarks and tests/e2e/test_teams_scale.py read it).
    $("team-exposed").dataset.ms = JSON.stringify({ ...change.timing, render: Math.round(performance.now() - t2) });
    notice(`Removed ${m.email}; the team has a new key. Rotate the credentials listed below at their provider.`);
  } catch (err) {
    refuse(err);
  }
}

function showExposed(email, exposed) {
  const box = $("team-exposed");
  const list = $("team-exposed-list");
  list.replaceChildren();
  $("team-exposed-title").textContent = exposed.length
    ? `${email} could read these credentials and may have kept them: rotate each at its provider.`
    : `${email} could read no credential of this team.`;
  for (const x of exposed) {
    list.append(el("li", { "data-exposed": x.name }, el("strong", { text: x.name }), " ",
      x.rotate_at ? el("a", { href: x.rotate_at, target: "_blank", rel: "noopener noreferrer", text: `Rotate at ${new URL(x.rotate_at).host}` })
        : el("span", { class: "hint", text: "rotate it where it was issued" })));
  }
  box.hidden = false;
}

$("team-rotate").addEventListener("click", async () => {
  const view = teams.views.get(teams.current);
  if (!view) return;
  try {
    renderTeam(await changeMembers(view.team_id, "team_rotate", {}));
    notice("The team has a new key; members who left cannot read what is saved from now on.");
  } catch (err) {
    refuse(err);
  }
});

$("team-leave").addEventListener("click", async () => {
  const view = teams.views.get(teams.current);
  if (!view) return;
  const sure = await confirmDialog({
    title: `Leave “${view.name}”?`,
    body: "You will no longer see its credentials.",
    confirm: "Leave team",
  });
  if (!sure) return;
  try {
    const left = await ask("team_leave", { team_id: view.team_id });
    await call("POST", `/api/teams/${view.team_id}/log`, { entry: left.entry });
    localStorage.removeItem(memoryKey(view.team_id));
    teams.views.delete(view.team_id);
    teams.current = null;
    $("team-detail").hidden = true;
    await loadTeams({ openAll: false });
    renderTeamCredentials();
    notice(`You left “${view.name}”.`);
  } catch (err) {
    refuse(err);
  }
});

// -- pinning and adding people ------------------------------------------------------------------

// Show their number (computed here from the key the server serves) beside ours; pin it
// only with the number they read out typed in, or on an explicit trust-on-first-use.
async function verifyPerson({ accountId, email, bundle, title, intro, then }) {
  const mine = teams.identity || (await ensureIdentity());
  const looked = await ask("contact_lookup", { account_id: accountId, email, bundle });
  const pin = async (args) => {
    const pinned = await ask("contact_pin", { account_id: accountId, email, bundle, ...args });
    await save(pinned);
    await then();
  };
  if (looked.pinned && !looked.changed && looked.pinned.verified === "fingerprint") {
    openNumbers({ title, intro, theirsLabel: `${email}'s safety number`, theirs: looked.safety_number,
      mine: mine.safety_number, typed: false,
      pinned: `You compared safety numbers with ${email} on ${new Date(looked.pinned.at).toLocaleDateString()}.`,
      onMatch: then });
    return;
  }
  openNumbers({
    title, intro, theirsLabel: `${email}'s safety number`, theirs: looked.safety_number, mine: mine.safety_number,
    typed: true,
    pinned: looked.changed
      ? `WARNING: this is not the key you checked for ${email} before (${looked.pinned_safety_number}). Accept it only if they confirm their key changed.`
      : looked.pinned ? `You trusted ${email}'s key on first use.` : "",
    onMatch: (typed) => pin({ safety_number: typed, accept_change: looked.changed }),
    onTofu: () => pin({ tofu: true, accept_change: looked.changed }),
  });
}

async function addInvitee(view, inv) {
  const served = await call("GET", `/api/identity/${inv.account_id}`);
  await verifyPerson({
    accountId: inv.account_id, email: inv.email, bundle: served.bundle,
    title: `Add ${inv.email} to “${view.name}”`,
    intro: `Ask ${inv.email} to read their safety number (shown on their screen under Teams) and type it below. The team key is sealed only to the key you check here.`,
    then: async () => {
      renderTeam(await changeMembers(view.team_id, "team_add_member", {
        account_id: inv.account_id, email: inv.email, role: inv.role, bundle: served.bundle,
      }));
      await renderTeamInvitations(view.team_id);
      notice(`Added ${inv.email} as ${ROLE_WORDS[inv.role]}.`);
    },
  });
}

async function compareMember(view, m) {
  try {
    await verifyPerson({
      accountId: m.account_id, email: m.email, bundle: m.identity,
      title: `Compare safety numbers with ${m.email}`,
      intro: "The number below is computed from the key the team's log holds for them.",
      then: async () => {
        renderTeam(await ask("team_view", { team_id: view.team_id }));
        notice(`Recorded how you checked ${m.email}'s key.`);
      },
    });
  } catch (err) {
    refuse(err);
  }
}

async function renderTeamInvitations(teamId) {
  const list = $("team-invitations");
  const view = teams.views.get(teamId);
  let invitations = [];
  try {
    invitations = await call("GET", `/api/teams/${teamId}/invitations`);
  } catch (err) {
    refuse(err);
    return;
  }
  // Emptied only now, with the answer in hand: two renderings in flight (opening the
  // section and the team at once) must not both append.
  if (teams.current !== teamId) return;
  list.replaceChildren();
  for (const inv of invitations) {
    const actions = [];
    if (inv.status === "accepted") {
      actions.push(el("button", { type: "button", class: "primary small", text: "Verify and add",
        on: { click: () => addInvitee(view, inv).catch((e) => refuse(e)) } }));
    }
    actions.push(el("button", { type: "button", class: "quiet small", text: "Withdraw", on: { click: async () => {
      try {
        await call("DELETE", `/api/teams/${teamId}/invitations/${inv.invitation_id}`);
        await renderTeamInvitations(teamId);
        notice(`Withdrew the invitation of ${inv.email}.`);
      } catch (err) {
        refuse(err);
      }
    } } }));
    list.append(el("li", { class: "item", "data-invitation": inv.email, "data-status": inv.status },
      el("div", { class: "item-main" }, el("strong", { text: inv.email }),
        el("span", { class: "item-meta", text: `${ROLE_WORDS[inv.role]} · ${inv.status === "accepted" ? "accepted: compare safety numbers, then add" : "waiting for them to accept"}` })),
      ...actions));
  }
  if (!invitations.length) list.append(el("li", { class: "hint", text: "No open invitation." }));
}

$("invite-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const teamId = teams.current;
  const email = $("invite-email").value.trim();
  try {
    await call("POST", `/api/teams/${teamId}/invitations`, { email, role: $("invite-role").value });
    $("invite-email").value = "";
    await renderTeamInvitations(teamId);
    notice(`Invited ${email}. Once they accept, compare safety numbers and add them.`);
  } catch (err) {
    refuse(err);
  }
});

// -- creating a team ------------------------------------------------------------------------------

$("team-new").addEventListener("click", () => {
  $("team-create-name").value = "";
  $("team-create-dialog").querySelector(".dialog-error").hidden = true;
  $("team-create-dialog").showModal();
  $("team-create-name").focus();
});
$("team-create-cancel").addEventListener("click", () => $("team-create-dialog").close());
$("team-create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await ensureIdentity();
    const made = await ask("team_create", { name: $("team-create-name").value.trim(), email: state.me?.email || "" });
    await call("POST", "/api/teams", { entry: made.entry, vault: made.vault });
    remember(made);
    teams.views.set(made.team_id, made);
    $("team-create-dialog").close();
    await loadTeams({ openAll: false });
    await showTeam(made.team_id);
    notice(`Created “${made.name}”. Invite people by email.`);
  } catch (err) {
    refuse(err);
  }
});

// -- team credentials ---------------------------------------------------------------------------

let editing = null; // {teamId, itemId|null}

// An ssh-key's row shows its public half (with its own Copy); Show reveals the private key.
function itemRow(view, item, { withTeam }) {
  const secret = el("code", { class: "secret", text: "••••••••" });
  const writer = RANK[view.role] >= RANK.writer;
  const ssh = item.kind === SSH_KEY;
  const row = el("li", { class: "item team-item", "data-team-item": item.name, "data-team": view.name, "data-kind": item.kind },
    el("div", { class: "item-main" },
      el("div", {}, withTeam ? el("span", { class: "badge team", text: `Team: ${view.name}` }) : null, " ",
        el("strong", { text: item.name })),
      el("span", { class: "item-meta", text: [ssh ? "SSH key" : item.kind, item.url, item.username].filter(Boolean).join(" · ") }),
      ssh ? sshPublicBlock(view, item, (err) => refuse(err)) : null,
      secret),
    el("button", { type: "button", class: "small", text: "Show", "aria-label": ssh ? `Show the private key of ${item.name}` : null,
      on: { click: () => reveal(view, item, secret) } }),
    ssh ? null : el("button", { type: "button", class: "small primary-soft", text: "Copy", on: { click: () => copy(view, item) } }));
  if (writer && !withTeam) {
    row.append(el("button", { type: "button", class: "small quiet", text: "Edit", on: { click: () => openItem(view, item) } }),
      el("button", { type: "button", class: "small danger", text: "Remove", on: { click: () => removeItem(view, item) } }));
  }
  return row;
}

function renderTeamItems(view) {
  const list = $("team-items");
  list.replaceChildren(...view.items.map((item) => itemRow(view, item, { withTeam: false })));
  if (!view.items.length) list.append(el("li", { class: "hint", text: "No team credential yet." }));
}

// Beside the personal credentials, labelled with their team.
function renderTeamCredentials() {
  let box = $("team-credentials");
  if (!box) {
    box = el("div", { id: "team-credentials", class: "team-credentials" },
      el("h2", { id: "team-credentials-title", text: "Team credentials" }),
      el("ul", { id: "team-credentials-list", class: "list", "aria-labelledby": "team-credentials-title" }));
    $("items-body").after(box);
  }
  const rows = [];
  for (const view of teams.views.values()) for (const item of view.items) rows.push(itemRow(view, item, { withTeam: true }));
  $("team-credentials-list").replaceChildren(...rows);
  box.hidden = rows.length === 0;
}

async function reveal(view, item, target) {
  try {
    const { secret } = await ask("team_reveal", { team_id: view.team_id, item_id: item.id });
    target.textContent = secret;
    setTimeout(() => { target.textContent = "••••••••"; }, 15_000);
  } catch (err) {
    refuse(err);
  }
}

async function copy(view, item) {
  try {
    const { secret } = await ask("team_reveal", { team_id: view.team_id, item_id: item.id });
    await navigator.clipboard.writeText(secret);
    notice(`Copied “${item.name}” (team ${view.name}); the clipboard is cleared in 30 s.`);
    setTimeout(() => navigator.clipboard.writeText("").catch(() => {}), 30_000);
  } catch (err) {
    refuse(err);
  }
}

function openItem(view, item) {
  editing = { teamId: view.team_id, itemId: item ? item.id : null };
  $("team-item-title").textContent = item ? `Edit “${item.name}” (team ${view.name})` : `Add a credential to “${view.name}”`;
  $("team-item-kind").value = item?.kind || "github";
  $("team-item-name").value = item?.name || "";
  $("team-item-url").value = item?.url || "";
  $("team-item-username").value = item?.username || "";
  $("team-item-note").value = item?.note || "";
  $("team-item-secret").value = "";
  $("team-item-secret-hint").textContent = item ? "Leave empty to keep the stored token." : "";
  resetTeamSshForm($("team-item-kind").value, Boolean(item));
  $("team-item-dialog").querySelector(".dialog-error").hidden = true;
  $("team-item-dialog").showModal();
  $("team-item-name").focus();
}

$("team-item-new").addEventListener("click", () => {
  const view = teams.views.get(teams.current);
  if (view) openItem(view, null);
});
$("team-item-cancel").addEventListener("click", () => $("team-item-dialog").close());

// Save the team vault the worker wrote; on a stale revision, open the team again from the
// server and make the same edit once more on top of it.
async function writeTeam(teamId, op, args) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const change = await ask(op, { team_id: teamId, ...args });
    try {
      await call("PUT", `/api/teams/${teamId}/vault`, { base_revision: change.base_revision, blob: change.blob });
      remember(change);
      teams.views.set(teamId, change);
      renderList();
      return change;
    } catch (err) {
      await openTeam(teamId).catch(() => {});
      if (err.code !== "revision_conflict" || attempt) throw err;
    }
  }
  throw new Error("unreachable");
}

$("team-item-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const fields = {
    name: $("team-item-name").value, kind: $("team-item-kind").value, url: $("team-item-url").value,
    username: $("team-item-username").value, note: $("team-item-note").value,
  };
  const { teamId, itemId } = editing;
  try {
    // An SSH key is generated or read in the worker; the token field is not sent for it.
    const given = fields.kind === SSH_KEY ? teamSshArgs() : { secret: $("team-item-secret").value, generate: false };
    const view = itemId
      ? await writeTeam(teamId, "team_item_update", { item_id: itemId, fields, ...given })
      : await writeTeam(teamId, "team_item_add", { fields, ...given });
    $("team-item-secret").value = "";
    resetTeamSshForm(fields.kind, false);
    $("team-item-dialog").close();
    renderTeam(view);
    renderTeamCredentials();
    notice(`Saved “${fields.name.trim()}” to team ${view.name}.`);
  } catch (err) {
    refuse(err);
    if (teams.views.has(teamId)) renderTeam(teams.views.get(teamId));
  }
});

async function removeItem(view, item) {
  const sure = await confirmDialog({
    title: `Remove “${item.name}” from team ${view.name}?`,
    body: "Every member loses it at their next sync.",
    confirm: "Remove",
  });
  if (!sure) return;
  try {
    const changed = await writeTeam(view.team_id, "team_item_remove", { item_id: item.id });
    renderTeam(changed);
    renderTeamCredentials();
    notice(`Removed “${item.name}” from team ${view.name}.`);
  } catch (err) {
    refuse(err);
    if (teams.views.has(view.team_id)) renderTeam(teams.views.get(view.team_id));
  }
}
