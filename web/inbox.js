// The pairing request being looked at, as an inbox entry: a badge on "Approve a pairing"
// and a banner on every other section while it waits, a countdown to its expiry, and once
// expired, the time it expired and the command to run again, with its buttons disabled.
import { $, el, onShow, show } from "./core.js";
import { serverNow } from "./dpop.js";

let waiting = null; // {name, kind, expiresAt (ms)}
let ticker = null;
let currentView = "";

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });

function left(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

const again = (kind) => (kind === "runner" ? "zkvault runner enroll" : "zkvault connect");

function render() {
  const now = serverNow();
  const live = waiting && waiting.expiresAt > now;
  const expired = waiting && !live;
  $("pair-badge").hidden = !live;
  $("pair-badge").replaceChildren(...(live ? [el("span", { "aria-hidden": "true", text: "1" }),
    el("span", { class: "sr-only", text: " (1 waiting)" })] : []));
  $("pair-banner").hidden = !live || currentView === "pair";
  if (live) {
    $("pair-banner-text").textContent =
      `A pairing request from “${waiting.name}” (${waiting.kind}) is waiting for you: ${left(waiting.expiresAt - now)} left.`;
  }
  if (!waiting) return;
  const countdown = $("pair-expires");
  countdown.textContent = live
    ? `${left(waiting.expiresAt - now)} (until ${clock(waiting.expiresAt)})`
    : `Expired at ${clock(waiting.expiresAt)}`;
  countdown.classList.toggle("warning", !live);
  $("pair-expired").hidden = !expired;
  $("pair-expired").replaceChildren(...(expired ? [
    `This request expired at ${clock(waiting.expiresAt)}; run `, el("code", { text: again(waiting.kind) }),
    " again on that machine and approve the new code."] : []));
  for (const id of ["pair-approve", "pair-refuse", "pair-newname"]) $(id).disabled = Boolean(expired);
  if (expired) stopTicking();
}

function stopTicking() {
  clearInterval(ticker);
  ticker = null;
}

// A looked-up request starts waiting; null when it was decided, cleared or refused.
export function setWaiting(pairing) {
  waiting = pairing ? { name: pairing.name, kind: pairing.kind, expiresAt: new Date(pairing.expires_at).getTime() } : null;
  stopTicking();
  for (const id of ["pair-approve", "pair-refuse", "pair-newname"]) $(id).disabled = false;
  $("pair-expired").hidden = true;
  if (waiting) ticker = setInterval(render, 1000);
  render();
}

export const isExpired = () => Boolean(waiting && waiting.expiresAt <= serverNow());

export function initInbox() {
  onShow((name) => {
    currentView = name;
    render();
  });
  $("pair-banner-open").addEventListener("click", () => {
    show("pair");
    $("pair-newname").focus();
  });
}
