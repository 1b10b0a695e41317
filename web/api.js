// The server API for the page: access tokens from the HttpOnly refresh cookie, every
// request proven by this browser's DPoP key (dpop.js), to which the session is bound.
// Only ciphertext, names, ids and public keys go through here (docs/server.md).

import { KeyUnavailable, learnServerTime, proof } from "./dpop.js";
import { sawAuditHead, sawTeamAuditHead } from "./engine.js";

export class ApiError extends Error {
  constructor(status, code, message, body = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const FRIENDLY = {
  unreachable: "Cannot reach the server. Check your connection and try again; nothing was lost.",
  session_expired: "Your session has expired. Sign in again to continue.",
  rate_limited: "Too many attempts. Wait a few minutes and try again.",
  unknown_code: "No pending pairing has that code. Check it, or ask the machine for a new one.",
  too_large: "The vault is too large to save (1 MiB limit).",
  history_full:
    "The server's store of your earlier revisions is full, so it saved nothing. Saving works " +
    "again as old revisions age out; ask the server's operator if it persists.",
  internal: "The server hit an internal error. Try again.",
  no_key:
    "This browser cannot keep the key that signs your requests (site storage or " +
    "WebCrypto is unavailable, as in some private windows). Use a normal window.",
  replayed_token:
    "The server repeated an earlier sign-in answer instead of a new one. Nothing was " +
    "changed; sign in again to continue.",
};

// Every refresh must bring an access token this browser has never been given: one it
// has (by its id) is an earlier answer replayed. The ids are not credentials.
const SEEN_TOKENS = "zkv-seen-token-ids";
function tokenId(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(payload)).jti || "");
  } catch {
    return "";
  }
}
function firstTimeSeen(token) {
  const id = tokenId(token);
  const seen = JSON.parse(localStorage.getItem(SEEN_TOKENS) || "[]");
  if (!id || seen.includes(id)) return false;
  localStorage.setItem(SEEN_TOKENS, JSON.stringify([...seen, id].slice(-50)));
  return true;
}

let access = null; // {token, expires, accountId}

async function codeOf(response) {
  try {
    return (await response.clone().json()).code;
  } catch {
    return "";
  }
}

function csrfCookie() {
  const m = document.cookie.match(/(?:^|;\s*)zkv_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export function hasSessionCookie() {
  return csrfCookie() !== "";
}

async function fetchProven(method, path, { body, headers, token }) {
  const bound = { ...headers, DPoP: await proof(method, path, token) };
  if (token) bound.Authorization = `DPoP ${token}`;
  const response = await fetch(path, {
    method,
    headers: body === undefined ? bound : { "Content-Type": "application/json", ...bound },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  learnServerTime(response);
  return response;
}

async function send(method, path, { body, headers = {}, token } = {}) {
  let response;
  try {
    response = await fetchProven(method, path, { body, headers, token });
    if (response.status === 401 && (await codeOf(response)) === "dpop_invalid") {
      // Most likely this computer's clock: the proof is made again on the server's time.
      // A refused proof spends nothing, so the retry is safe.
      response = await fetchProven(method, path, { body, headers, token });
    }
  } catch (err) {
    if (err instanceof KeyUnavailable) throw new ApiError(0, "no_key", FRIENDLY.no_key);
    throw new ApiError(0, "unreachable", FRIENDLY.unreachable);
  }
  if (response.status === 204) return null;
  let data = {};
  try {
    data = await response.json();
  } catch {
    if (!response.ok) throw new ApiError(response.status, "unreachable", FRIENDLY.unreachable);
  }
  if (!response.ok) {
    const code = data.code || `http_${response.status}`;
    throw new ApiError(response.status, code, FRIENDLY[code] || data.message || code, data);
  }
  return data;
}

// Refresh tokens rotate on use and a reused one revokes the session: never two refreshes
// at once, across tabs too (Web Locks).
async function refresh() {
  const run = async () => {
    if (!hasSessionCookie()) throw new ApiError(401, "session_expired", FRIENDLY.session_expired);
    try {
      const got = await send("POST", "/auth/refresh", { headers: { "X-CSRF-Token": csrfCookie() } });
      if (!firstTimeSeen(got.access_token)) {
        access = null;
        throw new ApiError(0, "replayed_token", FRIENDLY.replayed_token);
      }
      access = {
        token: got.access_token,
        accountId: got.account_id,
        expires: Date.now() + (got.expires_in - 60) * 1000,
      };
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        access = null;
        throw new ApiError(401, "session_expired", FRIENDLY.session_expired);
      }
      throw err;
    }
  };
  if (navigator.locks) await navigator.locks.request("zkvault-refresh", run);
  else await run();
}

export async function signIn() {
  await refresh();
  return access.accountId;
}

// The sign-in button: the login starts with a proof, so the session the provider's
// redirect creates is bound to this browser's key; then on to the provider.
export async function startSignIn() {
  const { url } = await send("POST", "/auth/login");
  location.assign(url);
}

export async function call(method, path, body) {
  const data = await callOnce(method, path, body);
  // Vault reads and writes name the audit chain's head: the next save seals it.
  if (data && data.audit_head && path.startsWith("/api/vault")) sawAuditHead(data.audit_head);
  // So do a team's vault and log answers, for that team's vault.
  const team = /^\/api\/teams\/([0-9a-f-]{32,36})\/(vault|log)(\?|$)/.exec(path);
  if (data && data.audit_head && team) sawTeamAuditHead(team[1], data.audit_head);
  return data;
}

async function callOnce(method, path, body) {
  if (!access || Date.now() > access.expires) await refresh();
  try {
    return await send(method, path, { body, token: access.token });
  } catch (err) {
    if (err.status !== 401) throw err;
    await refresh(); // the access token expired or the key rotated: one retry
    try {
      return await send(method, path, { body, token: access.token });
    } catch (again) {
      if (again.status === 401) throw new ApiError(401, "session_expired", FRIENDLY.session_expired);
      throw again;
    }
  }
}

export async function signOut() {
  try {
    await send("POST", "/auth/logout", { headers: { "X-CSRF-Token": csrfCookie() } });
  } finally {
    access = null;
  }
}

export function forgetAccess() {
  access = null;
}
