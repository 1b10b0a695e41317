// SSH keys in a team vault (docs/web.md, "Teams"): the team item form's "Private key"
// choice (keep, generate in the worker, or paste an OpenSSH key the worker reads), as the
// personal form's (web/sshkeys.js), and a team ssh-key's public half in its row. The
// private key is made or read in the worker and sealed into the team vault there; the
// page receives it only on Show.
import { $, el } from "./core.js";
import { ask } from "./engine.js";
import { copyPublicKey, keyChoice, SSH_KEY } from "./sshkeys.js";

export { SSH_KEY };

const RADIO = "team-ssh-source";
const HINTS = {
  keep: "",
  generate: "The key is made in this tab's vault worker and sealed into the team vault; every member then sees its public key to add to the host.",
  paste: "",
};
const choice = keyChoice({
  radio: RADIO, paste: "team-item-ssh-paste", check: "team-item-ssh-check", dialog: "team-item-dialog",
});
const source = choice.source;
// What to send with team_item_add/update for an ssh-key: {secret, generate}.
export const teamSshArgs = choice.args;
const tokenParts = () => [document.querySelector('label[for="team-item-secret"]'), $("team-item-secret"), $("team-item-secret-hint")];

function radio(value, text, id) {
  return el("label", { id: `${id}-label` }, el("input", { type: "radio", name: RADIO, id, value }), ` ${text}`);
}

// The fieldset, once, after the token field of the team item form (web/index.html).
function ensureForm() {
  if ($("team-item-ssh")) return;
  if (!$("team-item-kind").querySelector(`option[value="${SSH_KEY}"]`)) {
    $("team-item-kind").append(el("option", { value: SSH_KEY, text: "SSH key" }));
  }
  const box = el("fieldset", { id: "team-item-ssh", class: "ssh-source", hidden: true },
    el("legend", { text: "Private key" }),
    el("div", { class: "checks" },
      radio("keep", "Keep the stored key", "team-item-ssh-keep"),
      radio("generate", "Generate a new Ed25519 key", "team-item-ssh-generate"),
      radio("paste", "Paste a private key", "team-item-ssh-paste-choice")),
    el("p", { id: "team-item-ssh-hint", class: "hint" }),
    el("div", { id: "team-item-ssh-paste-block", hidden: true },
      el("label", { for: "team-item-ssh-paste", text: "OpenSSH private key" }),
      el("textarea", { id: "team-item-ssh-paste", class: "masked mono", rows: "4", autocomplete: "off",
        spellcheck: "false", autocapitalize: "off", "aria-describedby": "team-item-ssh-paste-hint team-item-ssh-check" }),
      el("p", { id: "team-item-ssh-paste-hint", class: "hint",
        text: "The text of a key file such as ~/.ssh/id_ed25519 (-----BEGIN OPENSSH PRIVATE KEY-----). It is read in this tab's vault worker and sealed into the team vault; it is not kept on the page." }),
      el("p", { id: "team-item-ssh-check", class: "hint", "aria-live": "polite" })));
  $("team-item-secret-hint").after(box);
  for (const r of box.querySelectorAll(`input[name="${RADIO}"]`)) r.addEventListener("change", showSource);
  $("team-item-ssh-paste").addEventListener("input", () => { choice.checkPasted(); });
  // A pasted key is not kept on the page once the form is gone (saved or cancelled).
  $("team-item-dialog").addEventListener("close", () => { $("team-item-ssh-paste").value = ""; });
  $("team-item-kind").addEventListener("change", () => teamSshForm($("team-item-kind").value, !$("team-item-ssh-keep-label").hidden));
}

function showSource() {
  const chosen = source();
  $("team-item-ssh-paste-block").hidden = chosen !== "paste";
  const replacing = !$("team-item-ssh-keep-label").hidden && chosen !== "keep";
  $("team-item-ssh-hint").textContent = replacing
    ? "This replaces the stored key: hosts that have its public key refuse the new one until you add it there."
    : HINTS[chosen];
}

// The form follows the kind: an SSH key has a private key to generate or paste instead of
// a token. `editing`: an item is being edited (its key can be kept).
export function teamSshForm(kind, editing) {
  ensureForm();
  const ssh = kind === SSH_KEY;
  for (const node of tokenParts()) node.hidden = ssh;
  $("team-item-ssh").hidden = !ssh;
  $("team-item-ssh-keep-label").hidden = !editing;
  if (!editing && source() === "keep") $("team-item-ssh-generate").checked = true;
  showSource();
}

// A fresh form: nothing pasted; keep (editing) or generate (new) chosen.
export function resetTeamSshForm(kind, editing) {
  ensureForm();
  choice.reset();
  $(editing ? "team-item-ssh-keep" : "team-item-ssh-generate").checked = true;
  teamSshForm(kind, editing);
}

// A team ssh-key's public half for its row: the authorized_keys line and SHA256:
// fingerprint the worker derives, with Copy (public data: no countdown).
export function sshPublicBlock(view, item, fail) {
  const line = el("code", { class: "public-key" });
  const print = el("code", { class: "fingerprint" });
  const status = el("span", { class: "copy-status", role: "status" });
  const copy = el("button", { type: "button", class: "small primary-soft", text: "Copy public key",
    "aria-label": `Copy public key of ${item.name}`,
    on: { click: () => { if (line.textContent) copyPublicKey(line.textContent, status).catch(fail); } } });
  ask("team_ssh_public_key", { team_id: view.team_id, item_id: item.id }).then((got) => {
    line.textContent = got.public_key;
    print.textContent = got.fingerprint;
  }).catch((err) => { if (line.isConnected) fail(err); }); // a row already gone (locked) says nothing
  return el("div", { class: "team-ssh", "data-ssh": item.name },
    el("span", { class: "hint", text: "SSH public key" }), line,
    el("span", { class: "detail-ssh-line" }, print, copy, status));
}
