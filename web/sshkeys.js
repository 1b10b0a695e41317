// ssh-key items on the page: the add/edit form's "Private key" choice (keep, generate in
// the worker, or paste an OpenSSH key the worker reads) and an item's public half in its
// details (public key, SHA256: fingerprint, Copy, and where the provider takes deploy
// keys). The worker makes and reads the private key; the page never receives it except
// on Show or Copy in the details, as for a token.
import { $, el } from "./core.js";
import { ask } from "./engine.js";
import { deployPages } from "./providers.js";

export const SSH_KEY = "ssh-key";
const SOURCE_HINTS = {
  keep: "",
  generate: "The key is made in this tab's vault worker and stored encrypted; you then see its public key to add to the host.",
  paste: "",
};

function showSource() {
  const chosen = source();
  $("item-ssh-paste-block").hidden = chosen !== "paste";
  const replacing = !$("item-ssh-keep-label").hidden && chosen !== "keep";
  $("item-ssh-source-hint").textContent = replacing
    ? "This replaces the stored key: hosts that have its public key refuse the new one until you add it there."
    : SOURCE_HINTS[chosen];
}

// The form follows the kind: an SSH key has a private key to generate or paste instead
// of a token. `editing`: an item is being edited (its key can be kept).
export function sshForm(kind, editing) {
  const ssh = kind === SSH_KEY;
  $("item-token-block").hidden = ssh;
  $("item-ssh").hidden = !ssh;
  $("item-ssh-keep-label").hidden = !editing;
  if (ssh && !document.querySelector('input[name="ssh-source"]:checked')) {
    $(editing ? "item-ssh-keep" : "item-ssh-generate").checked = true;
  }
  showSource();
}

// A fresh form: nothing pasted, keep (editing) or generate (new) chosen.
export function resetSshForm(editing) {
  choice.reset();
  $(editing ? "item-ssh-keep" : "item-ssh-generate").checked = true;
  showSource();
}

// The "Private key" choice of an item form (this page's, and the team item form's,
// web/teamssh.js): what to send with add/update for an ssh-key ({secret, generate}, or an
// Error to show if nothing usable was given), and the worker's reading of a pasted key.
// `ids`: the radio group's name and the paste box, check line and dialog ids.
export function keyChoice(ids) {
  let checking = 0; // bumped per pasted-key check: only the latest answer is shown
  const source = () => document.querySelector(`input[name="${ids.radio}"]:checked`)?.value || "generate";

  function args() {
    const chosen = source();
    if (chosen === "generate") return { secret: "", generate: true };
    if (chosen === "keep") return { secret: "", generate: false };
    const pasted = $(ids.paste).value;
    if (!pasted.trim()) throw new Error("Paste the private key, or choose Generate.");
    return { secret: pasted, generate: false };
  }

  // The worker reads the pasted key and says what it is (type, fingerprint) or why it
  // cannot be stored; the page never parses it. An answer a newer paste overtook is dropped.
  async function checkPasted() {
    const seq = ++checking;
    const out = $(ids.check);
    if (!$(ids.paste).value.trim()) {
      out.textContent = "";
      return;
    }
    let said;
    let code = null;
    try {
      const got = await ask("ssh_key_info", { secret: $(ids.paste).value });
      said = `Read: ${got.key_type} key, ${got.fingerprint}.`;
    } catch (err) {
      said = err.message;
      code = err.code || "error";
    }
    if (seq !== checking || !$(ids.dialog).open) return;
    out.textContent = said;
    out.className = code ? "hint weak" : "hint";
    if (code) out.dataset.code = code;
    else delete out.dataset.code;
  }

  // A fresh form: no answer of an earlier check is shown.
  function reset() {
    checking += 1;
    $(ids.paste).value = "";
    $(ids.check).textContent = "";
    $(ids.check).className = "hint";
  }

  return { source, args, checkPasted, reset };
}

const choice = keyChoice({ radio: "ssh-source", paste: "item-ssh-paste", check: "item-ssh-check", dialog: "item-dialog" });
const source = choice.source;
export const sshArgs = choice.args;

export function initSshForm() {
  for (const radio of document.querySelectorAll('input[name="ssh-source"]')) {
    radio.addEventListener("change", showSource);
  }
  $("item-ssh-paste").addEventListener("input", () => { choice.checkPasted(); });
}

// -- an item's details: its public half ---------------------------------------------------

let publicLine = ""; // the public key on show, for Copy (public data)

export function clearSshDetail() {
  publicLine = "";
  $("detail-ssh-public").textContent = "";
  $("detail-ssh-fingerprint").textContent = "";
  $("detail-ssh-copy-status").textContent = "";
  $("detail-ssh-deploy").replaceChildren();
}

function deployLinks(item) {
  const pages = deployPages(item.url);
  if (!pages.length) {
    return [el("p", { class: "hint", text: "Add the public key where the key is to be accepted: a server's authorized_keys, or a Git host's deploy keys." })];
  }
  const link = (href, text) => el("a", { href, target: "_blank", rel: "noopener noreferrer", text });
  return pages.map((p) => el("p", { class: "deploy-line", "data-provider": p.label },
    `${p.label} takes it as a deploy key under ${p.where} (`,
    link(p.guide, `how to add a deploy key on ${p.label}`),
    "), or for your account at ", link(p.account, `your ${p.label} SSH keys`), "."));
}

// Fill the public half of `item` (an ssh-key) unless `stillShown()` says the sheet moved on.
export async function renderSshDetail(item, stillShown) {
  clearSshDetail();
  const got = await ask("ssh_public_key", { item_id: item.id });
  if (!stillShown()) return;
  publicLine = got.public_key;
  $("detail-ssh-public").textContent = got.public_key;
  $("detail-ssh-fingerprint").textContent = got.fingerprint;
  $("detail-ssh-deploy").replaceChildren(...deployLinks(item));
}

// Copy a public key (no countdown: it is not a secret).
export async function copyPublicKey(line, status) {
  try {
    await navigator.clipboard.writeText(line);
    status.textContent = "Public key copied.";
  } catch (err) {
    throw err.name === "NotAllowedError" ? new Error("The browser refused clipboard access.") : err;
  }
}

export function initSshDetail(fail) {
  $("detail-ssh-copy").addEventListener("click", () => {
    if (publicLine) copyPublicKey(publicLine, $("detail-ssh-copy-status")).catch(fail);
  });
}
