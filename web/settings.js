// Settings a vault owner expects: the account and its identity provider, the signed-in
// browsers (sign out the others), the grant-key fingerprint to copy, an encrypted export
// the command line opens without a server, and a printable emergency kit (no secret).
import { call } from "./api.js";
import { $, el, fail, fmtTime, focusOn, notice, onListing, onView, state } from "./core.js";
import { confirmDialog, copyText } from "./ui.js";

const issuerHost = (issuer) => {
  try {
    return new URL(issuer).host || issuer;
  } catch {
    return issuer || "";
  }
};

// The export's file name says what it is and which revision; nothing from the vault's
// contents (no item name reaches a file name or the download list).
const exportName = () => `zkvault-vault-r${state.listing?.revision ?? 0}.zkv`;

function renderAccount() {
  const me = state.me || {};
  $("account-name").textContent = me.name || "—";
  $("account-email").textContent = me.email || "—";
  $("account-issuer").textContent = me.issuer || "—";
  $("account-id").textContent = me.account_id || state.accountId || "";
  $("account-server").textContent = location.origin;
  $("export-commands").textContent = [
    `zkvault adopt ${exportName()} --account-id ${me.account_id || state.accountId}`,
    "zkvault unlock        # asks for your passphrase",
    "zkvault list",
  ].join("\n");
}

function renderFingerprint(listing) {
  $("settings-fingerprint").textContent = listing?.owner_fingerprint || "(unlock to see it)";
  $("settings-fingerprint-copy").disabled = !listing?.owner_fingerprint;
}

async function renderSessions() {
  const sessions = await call("GET", "/api/sessions");
  $("sessions-body").replaceChildren(...sessions.map((s) => el("li", { "data-current": s.current ? "1" : "" },
    el("span", { class: "item-name", text: s.current ? "This browser" : "Another browser" }),
    el("span", { class: "item-meta" }, "Signed in ", el("span", { class: "time", text: fmtTime(s.created_at) }),
      " · last active ", el("span", { class: "time", text: fmtTime(s.last_seen_at || s.created_at) })))));
  const others = sessions.filter((s) => !s.current).length;
  $("sessions-signout").hidden = others === 0;
  $("sessions-signout").textContent = others === 1 ? "Sign out the other browser" : `Sign out the ${others} other browsers`;
}

async function signOutOthers() {
  const sure = await confirmDialog({
    title: "Sign out every other browser?",
    body: "Each of them must sign in again with your identity provider. This browser stays signed in; machines and runners are not affected.",
    confirm: "Sign out others",
  });
  if (!sure) return;
  const { signed_out: n } = await call("POST", "/api/sessions/sign-out-others");
  await renderSessions();
  notice(`Signed out ${n} other browser${n === 1 ? "" : "s"}.`);
  focusOn($("sessions-title"));
}

// The ciphertext exactly as the server holds it (the page never had anything else), as a
// file: `zkvault adopt` takes it with the account id, `zkvault unlock` opens it.
function downloadExport() {
  if (!state.blob) throw new Error("The vault is not loaded yet; try again in a moment.");
  const b64 = state.blob.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  const a = el("a", { href: url, download: exportName() });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  notice(`Downloaded ${exportName()} (encrypted). Open it with the commands shown; your passphrase is needed.`);
}

function openKit() {
  const me = state.me || {};
  $("kit-server").textContent = location.origin;
  $("kit-account").textContent = [me.name, me.email && `<${me.email}>`].filter(Boolean).join(" ");
  $("kit-issuer").textContent = me.issuer ? `${me.issuer} (${issuerHost(me.issuer)})` : "—";
  $("kit-account-id").textContent = me.account_id || state.accountId || "";
  $("kit-fingerprint").textContent = state.listing?.owner_fingerprint || "";
  $("kit-dialog").showModal();
  $("kit-print").focus();
}

export function initSettings() {
  onListing(renderFingerprint);
  onView("settings", async () => {
    renderAccount();
    renderFingerprint(state.listing);
    await renderSessions();
  });
  $("sessions-signout").addEventListener("click", () => signOutOthers().catch(fail));
  $("settings-fingerprint-copy").addEventListener("click", () =>
    copyText(state.listing?.owner_fingerprint || "", $("settings-fingerprint-status"), "Fingerprint").catch(fail));
  $("export-download").addEventListener("click", () => Promise.resolve().then(downloadExport).catch(fail));
  $("kit-open").addEventListener("click", openKit);
  $("kit-close").addEventListener("click", () => $("kit-dialog").close());
  $("kit-print").addEventListener("click", () => window.print());
  $("kit-dialog").addEventListener("close", () => $("kit-open").focus());
}
