// A team's audit trail in the team view (docs/web.md, "Teams"), for its admins and owners:
// the server's record of who changed the team, in words, 50 events at a time, and its
// export (the same hash chain as an account's, checked by `zkvault audit verify`). The
// rows are web/audit.js's; only the words for a team's actions and names are here.
import { call } from "./api.js";
import { $, el, notice, state } from "./core.js";
import { auditRow, downloadJson, fold } from "./audit.js";
import { ask } from "./engine.js";

const PAGE = 50;

const ACTIONS = {
  "team.create": "Created the team",
  "member.add": "Added a member",
  "member.remove": "Removed a member",
  "member.role": "Changed a member's role",
  "member.leave": "Left the team",
  "key.rotate": "Changed the team key",
  "invitation.create": "Invited someone",
  "invitation.accept": "Accepted an invitation",
  "invitation.decline": "Declined an invitation",
  "invitation.withdraw": "Withdrew an invitation",
  "invitation.consume": "Closed an invitation by adding its invitee",
  "team-vault.write": "Saved the team's credentials",
  "team-grant.write": "Sealed a runner's grant of team credentials",
  "team-grant.delete": "Deleted a runner's grant of team credentials",
  "team-grant.revoke": "Ended a runner's grant: its grantor is no longer an admin",
};

const pane = { teamId: null, before: null, loaded: [], names: null, seq: 0 };

const hexOf = (text) => String(text || "").replace(/-/g, "").toLowerCase();

// Accounts by the emails the team's verified log (members past and present) and open
// invitations give them (the server's labels name ids only); runners by the names pinned
// in the personal vault.
function namer(view, invitations, everyone) {
  const people = new Map();
  for (const inv of invitations) people.set(hexOf(inv.account_id), inv.email);
  for (const [account, mail] of Object.entries(everyone)) people.set(account, mail);
  for (const m of view.members) people.set(hexOf(m.account_id), m.me ? `You (${m.email})` : m.email);
  const runners = state.listing?.pin_names || {};
  return (label) => {
    const [kind, id = ""] = String(label || "").split(/:(.*)/s);
    if (!label || kind === "anonymous") return "Unknown (not signed in)";
    if (kind === "account") return people.get(hexOf(id)) || "Someone invited, never a member";
    if (kind === "team") return "The team";
    if (kind === "invitation") return "An invitation";
    if (kind === "runner") return runners[id] ? `Runner ${runners[id]}` : "A runner (not one of yours)";
    if (kind === "machine") return "A machine of a member";
    return label;
  };
}

function ensurePane() {
  if ($("team-audit")) return;
  const box = el("div", { id: "team-audit", hidden: true },
    el("div", { class: "view-head team-items-head" },
      el("h3", { id: "team-audit-title", text: "Audit trail" }),
      el("button", { type: "button", id: "team-audit-export", class: "small", text: "Export as JSON" })),
    el("p", { class: "hint", text: "What the server recorded of this team, newest first: who did what, when, and how it ended. Only admins and owners see it. The export holds the whole hash chain, which “zkvault audit verify” checks." }),
    el("p", { id: "team-audit-status", class: "hint", role: "status" }),
    el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "team-audit-title" },
      el("table", { class: "audit" },
        el("caption", { class: "sr-only", text: "Team audit events, newest first" }),
        el("thead", {}, el("tr", {}, ...["Time", "What", "Who", "Target", "Outcome", "Source"]
          .map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", { id: "team-audit-body" }))),
    el("p", {}, el("button", { type: "button", id: "team-audit-more", class: "small", hidden: true, text: "Older events" })));
  $("team-leave").closest("p").before(box);
}

function renderLines() {
  const names = pane.names;
  const target = (e) => {
    const who = names(e.target);
    return e.detail ? `${who} (${e.detail})` : who;
  };
  $("team-audit-body").replaceChildren(...fold(pane.loaded).map((line) => auditRow(line, { words: ACTIONS, who: names, target })));
  const n = pane.loaded.length;
  $("team-audit-status").textContent = `${n} event${n === 1 ? "" : "s"} loaded${pane.before ? "; older events load with “Older events”" : ""}.`;
}

// The server refuses a member below admin (403 team_role): said in the pane and the
// banner, the table emptied; nothing else on the page changes.
function refused(err, refuse) {
  $("team-audit-body").replaceChildren();
  $("team-audit-more").hidden = true;
  $("team-audit-status").textContent = err.code === "team_role"
    ? "The server says you may not read this team's audit trail: only admins and owners can."
    : "The audit trail could not be read.";
  refuse(err, "Team audit trail");
}

async function load(view, { more = false, refuse }) {
  const seq = ++pane.seq;
  const query = more && pane.before ? `?limit=${PAGE}&before=${pane.before}` : `?limit=${PAGE}`;
  try {
    const [page, invitations, everyone] = await Promise.all([
      call("GET", `/api/teams/${view.team_id}/audit${query}`),
      more ? null : call("GET", `/api/teams/${view.team_id}/invitations`).catch(() => []),
      more ? null : ask("team_people", { team_id: view.team_id }),
    ]);
    if (seq !== pane.seq || pane.teamId !== view.team_id) return; // another team opened since
    if (!more) pane.names = namer(view, invitations, everyone.people);
    pane.loaded = more ? [...pane.loaded, ...page.events] : page.events;
    pane.before = page.next_before;
    $("team-audit-more").hidden = !pane.before;
    renderLines();
  } catch (err) {
    if (seq === pane.seq) refused(err, refuse);
  }
}

async function exportTrail(teamId, name, refuse) {
  try {
    const data = await call("GET", `/api/teams/${teamId}/audit/export`);
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "team";
    downloadJson(data, `zkvault-team-${slug}-audit`);
    notice(`Exported ${data.events.length} audit events of team ${name} (hash chain head ${String(data.head_hash).slice(0, 12)}…).`);
  } catch (err) {
    refused(err, refuse);
  }
}

// Hide the pane and forget what it showed (another team, a member below admin, locked).
export function hideTeamAudit() {
  pane.teamId = null;
  pane.seq += 1;
  pane.loaded = [];
  if (!$("team-audit")) return;
  $("team-audit").hidden = true;
  $("team-audit-body").replaceChildren();
}

// Show the pane for `view` (an admin's or owner's, by the verified log) and read its
// first page; `refuse` shows an error as teams.js does.
export function showTeamAudit(view, refuse) {
  ensurePane();
  pane.teamId = view.team_id;
  $("team-audit").hidden = false;
  $("team-audit").dataset.team = view.team_id;
  $("team-audit-more").onclick = () => load(view, { more: true, refuse });
  $("team-audit-export").onclick = () => exportTrail(view.team_id, view.name, refuse);
  return load(view, { refuse });
}
