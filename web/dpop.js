// This browser's DPoP key (RFC 9449): every call to /api and /auth proves it, so a
// token or the refresh cookie copied out of this browser is useless anywhere else.
// ECDSA P-256 made by WebCrypto with extractable: false (the private key never leaves
// the browser's crypto store, not even to this page), kept in IndexedDB so a reload
// keeps it. docs/server.md, "Proof of possession".

const DB_NAME = "zkvault-dpop";
const STORE = "keys";
const ID = "browser";

// This browser cannot make or keep the key (no IndexedDB or WebCrypto, e.g. a private
// window that refuses storage): nothing can be proven, so nothing is sent.
export class KeyUnavailable extends Error {}

let current = null; // Promise<{ pair, header }>
// The server's clock minus ours (ms), from the Date header of its answers: a proof's
// iat must be within the server's tolerated skew of its own clock, whatever this
// computer's clock says (api.js retries once after a dpop_invalid with the new value).
let offset = 0;

// The time on the server's clock now, as best known: expiries the server sets (a pairing
// code's) are counted down against it, not against this computer's clock.
export const serverNow = () => Date.now() + offset;

export function learnServerTime(response) {
  const date = Date.parse(response.headers.get("Date") || "");
  if (!Number.isNaN(date)) offset = date - Date.now();
}

function b64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const utf8 = (text) => new TextEncoder().encode(text);

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function openDb() {
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE);
  return request(req);
}

async function loadOrCreate() {
  const db = await openDb();
  try {
    let pair = await request(db.transaction(STORE).objectStore(STORE).get(ID));
    if (!pair) {
      pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
        "sign",
      ]);
      await request(db.transaction(STORE, "readwrite").objectStore(STORE).put(pair, ID));
    }
    const { x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty: "EC", crv: "P-256", x, y } };
    return { pair, header: b64url(utf8(JSON.stringify(header))) };
  } finally {
    db.close();
  }
}

// One key per browser profile, even when two tabs open at once for the first time.
function key() {
  if (!current) {
    const made = navigator.locks
      ? navigator.locks.request("zkvault-dpop-key", loadOrCreate)
      : loadOrCreate();
    current = made.catch((err) => {
      current = null; // try again next time
      throw new KeyUnavailable(String(err && err.name));
    });
  }
  return current;
}

// The proof for one request: `path` is this origin's (the server's public URL), the
// query is not part of it.
export async function proof(method, path, accessToken) {
  const { pair, header } = await key();
  const claims = {
    jti: b64url(crypto.getRandomValues(new Uint8Array(18))),
    htm: method,
    htu: location.origin + path.split("?")[0],
    iat: Math.floor((Date.now() + offset) / 1000),
  };
  if (accessToken) {
    claims.ath = b64url(await crypto.subtle.digest("SHA-256", utf8(accessToken)));
  }
  const input = `${header}.${b64url(utf8(JSON.stringify(claims)))}`;
  // WebCrypto's ECDSA signature is raw r||s, exactly what JWS ES256 wants.
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, utf8(input));
  return `${input}.${b64url(sig)}`;
}
