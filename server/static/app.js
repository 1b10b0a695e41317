// Placeholder start page: sign in, show who you are, approve a pairing by code.
// Text only ever goes through textContent; the access token lives in memory.
"use strict";

let accessToken = null;
const $ = (id) => document.getElementById(id);

function csrf() {
  const m = document.cookie.match(/(?:^|; )zkv_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (accessToken) headers.Authorization = "Bearer " + accessToken;
  const r = await fetch(path, { ...options, headers, credentials: "same-origin" });
  const body = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error(body && body.message ? body.message : "HTTP " + r.status);
  return body;
}

async function start() {
  const r = await fetch("/auth/refresh", {
    method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() },
  });
  if (!r.ok) {
    $("status").textContent = "You are not signed in.";
    $("signin").hidden = false;
    return;
  }
  accessToken = (await r.json()).access_token;
  const me = await api("/api/me");
  $("status").textContent = "";
  $("name").textContent = me.name;
  $("email").textContent = me.email;
  $("account").hidden = false;
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("code");
  if (fromLink) {
    $("code").value = fromLink;
    history.replaceState(null, "", location.pathname);  // the code is single-use; drop it
    lookup();
  }
}

async function lookup() {
  $("pair-result").textContent = "";
  try {
    const p = await api("/api/pairings/lookup", {
      method: "POST", body: JSON.stringify({ code: $("code").value }),
    });
    $("p-name").textContent = p.name;
    $("p-kind").textContent = p.kind;
    $("p-fp").textContent = p.fingerprint;
    $("pending").hidden = false;
  } catch (e) {
    $("pending").hidden = true;
    $("pair-result").textContent = e.message;
  }
}

async function decide(verb) {
  try {
    await api("/api/pairings/" + verb, {
      method: "POST", body: JSON.stringify({ code: $("code").value }),
    });
    $("pair-result").textContent = verb === "approve" ? "Approved." : "Refused.";
  } catch (e) {
    $("pair-result").textContent = e.message;
  }
  $("pending").hidden = true;
  $("code").value = "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("pair").addEventListener("submit", (ev) => { ev.preventDefault(); lookup(); });
  $("approve").addEventListener("click", () => decide("approve"));
  $("refuse").addEventListener("click", () => decide("refuse"));
  $("signout").addEventListener("click", async () => {
    await fetch("/auth/logout", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() },
    });
    location.reload();
  });
  start().catch((e) => { $("status").textContent = e.message; });
});
