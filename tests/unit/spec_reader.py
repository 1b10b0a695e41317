"""A second, independent reader written from docs/format.md with PyNaCl alone.

It shares no code with vault_core; if both agree on every vector, the spec is
what the code does. It follows format.md §6.1 and §7 step by step and returns
the error code of the first failing step; and §6.6's reserved names, §12's
fingerprints and bookkeeping records (the revoked record included), §13's local
state, and §14's lineage record, its writing and the descent check, as written there.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import struct
import unicodedata
import uuid
from typing import Any

from nacl import bindings as s
from nacl.exceptions import CryptoError

KIB = 1024


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _no_constants(name: str) -> Any:
    raise ValueError(name)


class _Num:
    """§6.6: a number, of any length, is non_canonical; it is never converted."""


def _scalars(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _scalars(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _scalars(v)]
    return [obj]


def _depth(obj: Any) -> int:
    if isinstance(obj, dict):
        return 1 + max(map(_depth, obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max(map(_depth, obj), default=0)
    return 0


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [*obj, *(s for v in obj.values() for s in _strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


def _decode_json(data: bytes) -> Any:
    """§6.6 'A decoder checks, in this order'."""
    try:
        obj = json.loads(
            data.decode("utf-8"),
            parse_constant=_no_constants,
            parse_int=lambda _: _Num(),
            parse_float=lambda _: _Num(),
        )
        if _depth(obj) > 16:
            raise Refused("malformed")
        if any(re.search("[\ud800-\udfff]", s) for s in _strings(obj)):
            raise Refused("malformed")
    except (UnicodeError, ValueError, RecursionError):
        raise Refused("malformed") from None
    if any(isinstance(v, bool | _Num) for v in _scalars(obj)) or _canonical(obj) != data:
        raise Refused("non_canonical")
    return obj


_KINDS = {"github", "github-enterprise", "gitlab", "bitbucket", "git", "generic", "ssh-key"}
_EMPTY_URL_KINDS = {"github", "gitlab", "bitbucket", "generic", "ssh-key"}
_KEYS = ["expires", "kind", "name", "note", "scopes", "secret", "url", "username"]


def _text(value: Any, low: int, high: int, controls_allowed: bool) -> None:
    if not isinstance(value, str) or not low <= len(value.encode()) <= high:
        raise Refused("invalid_item")
    if not controls_allowed and re.search("[\x00-\x1f\x7f]", value):
        raise Refused("invalid_item")


def _ssh_fields(buf: bytes, pos: int, *kinds: str) -> tuple[list[Any], int]:
    """Read SSH wire fields (``s`` string, ``u`` uint32, ``m`` mpint) from ``pos``."""
    out: list[Any] = []
    for kind in kinds:
        if pos + 4 > len(buf):
            raise Refused("invalid_item")
        (n,) = struct.unpack(">I", buf[pos : pos + 4])
        if kind == "u":
            out.append(n)
            pos += 4
            continue
        if pos + 4 + n > len(buf):
            raise Refused("invalid_item")
        raw = buf[pos + 4 : pos + 4 + n]
        pos += 4 + n
        if kind == "m":
            if (raw and raw[0] >= 0x80) or (raw[:1] == b"\0" and (len(raw) < 2 or raw[1] < 0x80)):
                raise Refused("invalid_item")
            out.append(int.from_bytes(raw, "big"))
        else:
            out.append(raw)
    return out, pos


def _check_ssh_key(obj: dict[str, Any]) -> None:
    """§6.6, "ssh-key items": hosts, user, scopes, and the OpenSSH private key."""
    host = "[A-Za-z0-9_*?][A-Za-z0-9._*?-]{0,252}"
    if obj["url"] and not re.fullmatch(f"{host}( {host})*", obj["url"]):
        raise Refused("invalid_item")
    if obj["username"] and not re.fullmatch("[A-Za-z0-9_.][A-Za-z0-9._-]{0,255}", obj["username"]):
        raise Refused("invalid_item")
    if obj["scopes"] not in ([], ["confirm"]):
        raise Refused("invalid_item")
    text = obj["secret"]
    begin, end = "-----BEGIN OPENSSH PRIVATE KEY-----\n", "-----END OPENSSH PRIVATE KEY-----\n"
    if not text.startswith(begin) or not text.endswith(end):
        raise Refused("invalid_item")
    lines = text[len(begin) : -len(end)].split("\n")[:-1]
    if not lines or any(len(line) != 70 for line in lines[:-1]) or not 0 < len(lines[-1]) <= 70:
        raise Refused("invalid_item")
    try:
        raw = base64.b64decode("".join(lines), validate=True)
    except ValueError:
        raise Refused("invalid_item") from None
    if base64.b64encode(raw).decode() != "".join(lines):
        raise Refused("invalid_item")
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        raise Refused("invalid_item")
    (cipher, kdf, kdfopts, count, public, section), pos = _ssh_fields(
        raw, len(magic), "s", "s", "s", "u", "s", "s"
    )
    if (cipher, kdf, kdfopts, count) != (b"none", b"none", b"", 1) or pos != len(raw):
        raise Refused("invalid_item")
    if len(section) % 8:
        raise Refused("invalid_item")
    (check1, check2, key_type), pos = _ssh_fields(section, 0, "u", "u", "s")
    if check1 != check2:
        raise Refused("invalid_item")

    def s(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    def m(v: int) -> bytes:
        return s(v.to_bytes((v.bit_length() + 8) // 8, "big") if v else b"")

    if key_type == b"ssh-ed25519":
        (pk, sk), pos = _ssh_fields(section, pos, "s", "s")
        if len(pk) != 32 or len(sk) != 64 or sk[32:] != pk:
            raise Refused("invalid_item")
        derived = s(key_type) + s(pk)
    elif key_type == b"ssh-rsa":
        (n, e, d, iqmp, p, q), pos = _ssh_fields(section, pos, "m", "m", "m", "m", "m", "m")
        if not 3072 <= n.bit_length() <= 16384 or e < 3 or e % 2 == 0 or p * q != n:
            raise Refused("invalid_item")
        if not 0 < d < n or iqmp <= 0:
            raise Refused("invalid_item")
        derived = s(key_type) + m(e) + m(n)
    elif key_type == b"ecdsa-sha2-nistp256":
        (curve, point, scalar), pos = _ssh_fields(section, pos, "s", "s", "m")
        prime = 2**256 - 2**224 + 2**192 + 2**96 - 1
        b = int("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", 16)
        order = int("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)
        if curve != b"nistp256" or len(point) != 65 or point[0] != 4 or not 0 < scalar < order:
            raise Refused("invalid_item")
        x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
        if x >= prime or y >= prime or (y * y - x**3 + 3 * x - b) % prime:
            raise Refused("invalid_item")
        derived = s(key_type) + s(curve) + s(point)
    else:
        raise Refused("invalid_item")
    if derived != public:
        raise Refused("invalid_item")
    (comment,), pos = _ssh_fields(section, pos, "s")
    try:
        comment.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("invalid_item") from None
    if section[pos:] != bytes(range(1, len(section) - pos + 1)) or len(section) - pos > 7:
        raise Refused("invalid_item")


def _check_item(obj: Any) -> None:
    """The table of §6.6 and the rule on empty urls; every failure is invalid_item."""
    if not isinstance(obj, dict) or sorted(obj) != _KEYS:
        raise Refused("invalid_item")
    _text(obj["name"], 1, 128, False)
    if obj["kind"] not in _KINDS:
        raise Refused("invalid_item")
    _text(obj["url"], 0, 2048, False)
    if obj["url"] == "" and obj["kind"] not in _EMPTY_URL_KINDS:
        raise Refused("invalid_item")
    _text(obj["username"], 0, 256, False)
    _text(obj["secret"], 1, 16_384, True)
    _text(obj["note"], 0, 4096, True)
    if not isinstance(obj["scopes"], list) or len(obj["scopes"]) > 64:
        raise Refused("invalid_item")
    for scope in obj["scopes"]:
        _text(scope, 1, 128, False)
    expires = obj["expires"]
    if expires is not None:
        if not isinstance(expires, str) or not re.fullmatch("[0-9]{4}-[0-9]{2}-[0-9]{2}", expires):
            raise Refused("invalid_item")
        try:
            datetime.date(int(expires[:4]), int(expires[5:7]), int(expires[8:]))
        except ValueError:
            raise Refused("invalid_item") from None
    if obj["kind"] == "ssh-key":
        _check_ssh_key(obj)


def _x25519_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """§7: secret key = SHA-512(seed)[:32], public key = X25519 base-point multiple."""
    secret = hashlib.sha512(seed).digest()[:32]
    return s.crypto_scalarmult_base(secret), secret


def _mac(key: bytes, msg: bytes) -> bytes:
    return hashlib.blake2b(msg, digest_size=32, key=key).digest()


def _h(msg: bytes) -> bytes:
    return hashlib.blake2b(msg, digest_size=32).digest()


def _kek(passphrase: str, salt: bytes, ops: int, mem: int) -> bytes:
    pw = unicodedata.normalize("NFC", passphrase).encode()
    return s.crypto_pwhash_alg(32, pw, salt, ops, mem * KIB, s.crypto_pwhash_ALG_ARGON2ID13)


def read_vault(
    blob: bytes,
    passphrase: str,
    account: uuid.UUID,
    pinned: uuid.UUID | None,
    seen: int,
    memory: dict[str, Any] | None = None,
    device_id: str | None = None,
) -> tuple[int, int, list[dict[str, Any]]]:
    """§6.1: the format version, the revision and the items (memory: §14.2's, as JSON)."""
    if len(blob) > 1_048_576:
        raise Refused("limit_exceeded")
    if len(blob) < 6 or blob[:4] != b"ZKVT":
        raise Refused("malformed")
    version = struct.unpack(">H", blob[4:6])[0]
    if version not in (1, 2):
        raise Refused("unsupported_version")
    if len(blob) < 147:
        raise Refused("malformed")
    acct, vid = blob[6:22], blob[22:38]
    (revision,) = struct.unpack(">Q", blob[38:46])
    kdf_id, ops, mem = blob[46], *struct.unpack(">II", blob[47:55])
    salt, slot_nonce, slot_ct = blob[55:71], blob[71:95], blob[95:143]
    (n,) = struct.unpack(">I", blob[143:147])
    if kdf_id != 1:
        raise Refused("unsupported_version")
    if ops > 16 or mem > 1_048_576:  # the ceiling before the floor (§5)
        raise Refused("limit_exceeded")
    if ops < 2 or mem < 19_456:
        raise Refused("weak_kdf")
    if n > 1000:
        raise Refused("limit_exceeded")
    if revision == 0 or revision >= 2**63:
        raise Refused("malformed")
    mac_at = 147 + 56 * n
    if len(blob) < mac_at + 32:
        raise Refused("malformed")
    manifest = [
        (blob[o : o + 16], struct.unpack(">Q", blob[o + 16 : o + 24])[0], blob[o + 24 : o + 56])
        for o in range(147, mac_at, 56)
    ]
    for i, (iid, rev, _) in enumerate(manifest):
        if i and iid <= manifest[i - 1][0]:
            raise Refused("non_canonical")
        if not 1 <= rev <= revision:
            raise Refused("malformed")
    records, pos = [], mac_at + 32
    while pos < len(blob):
        if len(blob) - pos < 52:
            raise Refused("malformed")
        (ct_len,) = struct.unpack(">I", blob[pos + 48 : pos + 52])
        if ct_len <= 16:
            raise Refused("malformed")
        if ct_len > 32_784:
            raise Refused("limit_exceeded")
        if len(blob) - pos - 52 < ct_len:
            raise Refused("malformed")
        records.append(blob[pos : pos + 52 + ct_len])
        pos += 52 + ct_len
    if acct != account.bytes:
        raise Refused("wrong_account")
    if pinned is not None and vid != pinned.bytes:
        raise Refused("wrong_vault")
    if memory is not None:
        seen = max(seen, int(memory["head"]["rev"]))
        if version < memory["format"]:
            raise Refused("downgrade")
    if revision < seen:
        raise Refused("rollback")
    if not 1 <= len(unicodedata.normalize("NFC", passphrase).encode()) <= 4096:
        raise Refused("limit_exceeded")
    slot_ad = b"zkvault/1 key-slot" + b"\x00\x01" + blob[46:71]  # §4.1: always 1
    try:
        vk = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
            slot_ct, slot_ad, slot_nonce, _kek(passphrase, salt, ops, mem)
        )
    except CryptoError:
        raise Refused("wrong_passphrase") from None
    if not hmac.compare_digest(
        _mac(_mac(vk, b"zkvault/1 header-mac"), blob[:mac_at]), blob[mac_at : mac_at + 32]
    ):
        raise Refused("header_auth")
    if memory is not None and version < memory["format"]:
        raise Refused("downgrade")
    if revision < seen:
        raise Refused("rollback")
    ids = [r[:16] for r in records]
    if len(set(ids)) != len(ids):
        raise Refused("item_duplicated")
    by_id = {iid: (rev, h) for iid, rev, h in manifest}
    for r in records:
        if r[:16] not in by_id or by_id[r[:16]][0] != struct.unpack(">Q", r[16:24])[0]:
            raise Refused("item_replayed")
    if len(ids) != len(manifest):
        raise Refused("item_missing")
    if ids != [m[0] for m in manifest]:
        raise Refused("non_canonical")
    for r in records:  # step 14: every hash before any decryption
        if _h(r) != by_id[r[:16]][1]:
            raise Refused("body_auth")
    item_key = _mac(vk, b"zkvault/1 item-key")
    items: list[dict[str, Any]] = []
    for r in records:  # step 15, record by record
        ad = b"zkvault/1 item" + blob[4:6] + acct + vid + r[:24]
        try:
            plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(r[52:], ad, r[24:48], item_key)
        except CryptoError:
            raise Refused("body_auth") from None
        item = _decode_json(plain)
        _check_item(item)
        if version == 1 and item["kind"] == "ssh-key":  # §6.6: a kind of format 2
            raise Refused("invalid_item")
        if any(other["name"] == item["name"] for other in items):
            raise Refused("invalid_item")
        items.append({**item, "id": r[:16].hex(), "revision": struct.unpack(">Q", r[16:24])[0]})
    lineage = None
    if version == 2:  # step 16
        own = [i for i in items if i["name"] == ".zkvault-lineage"]
        if not own or own[0]["revision"] != revision:
            raise Refused("lineage")
        lineage = read_lineage(own[0]["secret"], revision)
    digest = hashlib.sha256(blob).hexdigest()
    check_descent(memory, version, revision, digest, lineage, device_id)  # step 17
    return version, revision, items


def read_grant(
    blob: bytes, seed: bytes, account: uuid.UUID, runner: uuid.UUID, owner_key: bytes, seen: int
) -> tuple[int, list[dict[str, Any]]]:
    if len(blob) > 1_048_576:
        raise Refused("limit_exceeded")
    pk, sk = _x25519_keypair(seed)
    try:
        payload = s.crypto_box_seal_open(blob, pk, sk)
    except CryptoError:
        raise Refused("grant_auth") from None
    if len(payload) < 6 or payload[:4] != b"ZKGT":
        raise Refused("malformed")
    if struct.unpack(">H", payload[4:6])[0] != 1:
        raise Refused("unsupported_version")
    if len(payload) < 82 + 64:
        raise Refused("malformed")
    (revision,) = struct.unpack(">Q", payload[38:46])
    (body_len,) = struct.unpack(">I", payload[78:82])
    if len(payload) != 82 + body_len + 64 or not 1 <= revision < 2**63:
        raise Refused("malformed")
    if payload[6:22] != account.bytes or payload[22:38] != runner.bytes or payload[46:78] != pk:
        raise Refused("grant_binding")
    signed, signature = payload[: 82 + body_len], payload[82 + body_len :]
    try:
        s.crypto_sign_open(signature + b"zkvault/1 grant" + signed, owner_key)
    except CryptoError:
        raise Refused("grant_auth") from None
    if revision < seen:
        raise Refused("rollback")
    data = _decode_json(payload[82 : 82 + body_len])
    if not isinstance(data, dict) or list(data) != ["items"] or not isinstance(data["items"], list):
        raise Refused("invalid_item")
    if len(data["items"]) > 1000:
        raise Refused("limit_exceeded")
    previous, names = "", set()
    for element in data["items"]:
        if not isinstance(element, dict) or not isinstance(element.get("id"), str):
            raise Refused("invalid_item")
        item = dict(element)
        item_id = item.pop("id")
        if not re.fullmatch("[0-9a-f]{32}", item_id):
            raise Refused("invalid_item")
        if item_id <= previous:  # lowercase hex orders like the id bytes
            raise Refused("non_canonical")
        _check_item(item)
        if item["name"] in names:
            raise Refused("invalid_item")
        previous = item_id
        names.add(item["name"])
    return revision, data["items"]


# -- §6.6 reserved names ------------------------------------------------------------------

_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
_WHITE_SPACE += "\u2028\u2029\u202f\u205f\u3000"


def check_item_name(name: str) -> None:
    """Refused("reserved_name") for a name a client must not add or rename an item to."""
    folded = unicodedata.normalize("NFKC", name).strip(_WHITE_SPACE)
    if folded.encode("utf-8").startswith(b".zkvault-"):
        raise Refused("reserved_name")


# -- §12 fingerprints ---------------------------------------------------------------------

_FP_TYPES = {"machine": 32, "runner": 32, "owner-grant": 32, "identity": 80}


def fingerprint(key_type: str, key: bytes) -> str:
    if _FP_TYPES.get(key_type) != len(key):
        raise Refused("bad_key")
    t = key_type.encode()
    d = hashlib.sha256(b"zkvault-fingerprint-v1" + b"\0" + bytes([len(t)]) + t + key).digest()
    fp = base64.b32encode(d[:15]).decode()
    assert len(fp) == 24 and "=" not in fp
    return "-".join(fp[i : i + 4] for i in range(0, 24, 4))


def normalise_typed(text: str) -> str:
    upper = "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)
    kept = "".join(c for c in upper if c not in " \t-")
    if not re.fullmatch("[A-Z2-7]{24}", kept):
        raise Refused("bad_fingerprint")
    return "-".join(kept[i : i + 4] for i in range(0, 24, 4))


# -- §12.1 bookkeeping records ------------------------------------------------------------

_RUNNER_ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _earlier_record(secret: str, code: str) -> Any:
    """PINS_0 / GRANTS_0: read only if writing it again gives back the same text."""
    try:
        data = json.loads(secret, parse_constant=lambda name: 1 / 0)
        if code == "pin":
            if not isinstance(data, dict) or list(data) != ["v", "runners"] or data["v"] != 1:
                raise Refused(code)
            runners = data["runners"]
            ordered = {r: {"key": p["key"], "name": p["name"]} for r, p in sorted(runners.items())}
            again = json.dumps({"v": 1, "runners": ordered}, separators=(",", ":"))
        else:
            runners = data
            again = json.dumps(runners, sort_keys=True, separators=(",", ":"))
    except (ValueError, ZeroDivisionError, TypeError, KeyError, AttributeError):
        raise Refused(code) from None
    if again != secret:
        raise Refused(code)
    return runners


def _record(secret: str, code: str) -> dict[str, Any]:
    try:
        data = _decode_json(secret.encode())
    except (Refused, UnicodeError):
        data = None
    if not isinstance(data, dict) or set(data) != {"runners", "v"} or data["v"] != "1":
        data = {"runners": _earlier_record(secret, code)}
    runners = data["runners"]
    if not isinstance(runners, dict) or any(not re.fullmatch(_RUNNER_ID, r) for r in runners):
        raise Refused(code)
    return runners


def read_pins(secret: str) -> dict[str, Any]:
    out = {}
    for rid, pin in _record(secret, "pin").items():
        if not isinstance(pin, dict) or set(pin) != {"key", "name"}:
            raise Refused("pin")
        key, name = pin["key"], pin["name"]
        # 32 bytes are 43 base64url characters; the last carries 4 bits and 2 zero bits.
        if not isinstance(key, str) or not re.fullmatch("[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]", key):
            raise Refused("pin")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise Refused("pin")
        if re.search("[\x00-\x1f\x7f]", name):
            raise Refused("pin")
        raw = base64.urlsafe_b64decode(key + "=")
        out[rid] = {"key": raw.hex(), "name": name}
    return out


def add_pin(secret: str, runner_id: str, key: bytes, name: str) -> str:
    """§12.1 "Pinning": the record with one runner more, or the first failing step's code."""
    pins = read_pins(secret)
    rid = runner_id
    if not re.fullmatch(_RUNNER_ID, rid):
        raise Refused("pin")
    if len(key) != 32:
        raise Refused("bad_key")
    if not 1 <= len(name) <= 128 or re.search("[\x00-\x1f\x7f\ud800-\udfff]", name):
        raise Refused("pin")
    if rid in pins:
        raise Refused("id_taken")
    runners = {
        r: {"key": _b64(bytes.fromhex(p["key"])), "name": p["name"]} for r, p in pins.items()
    }
    runners[rid] = {"key": _b64(key), "name": name}
    return _canonical({"runners": runners, "v": "1"}).decode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_grant_list(secret: str) -> dict[str, Any]:
    runners = _record(secret, "grant_list")
    for ids in runners.values():
        if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
            raise Refused("grant_list")
        if any(not isinstance(i, str) or not re.fullmatch("[0-9a-f]{32}", i) for i in ids):
            raise Refused("grant_list")
        if ids != sorted(set(ids)):
            raise Refused("grant_list")
    return runners


# -- §13 local state ----------------------------------------------------------------------


def open_local_state(blob: bytes, key: bytes, machine_id: bytes, counter: int) -> dict[str, Any]:
    if len(blob) < 39 + 16 or blob[:6] != b"ZKVST1":
        raise Refused("malformed")
    (generation,) = struct.unpack(">Q", blob[7:15])
    try:
        plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
            blob[39:], blob[:39] + b"\0" + machine_id, blob[15:39], key
        )
    except CryptoError:
        raise Refused("state_auth") from None
    if generation < counter:
        raise Refused("rollback")
    return {"generation": generation, "plaintext": plain.hex()}


# -- §12.1 the revoked record ---------------------------------------------------------------

_TIME = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
_KEY43 = "[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]"


def _name_ok(name: Any) -> bool:
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 128
        and not re.search("[\x00-\x1f\x7f\ud800-\udfff]", name)
    )


def read_revoked(
    secret: str, check: tuple[str | None, bytes | None] | None = None
) -> dict[str, Any]:
    """REVOKED of §12.1 (damaged: pin); with ``check``, an id and key to refuse if revoked."""
    try:
        data = _decode_json(secret.encode())
    except (Refused, UnicodeError):
        raise Refused("pin") from None
    if not isinstance(data, dict) or set(data) != {"devices", "v"} or data["v"] != "1":
        raise Refused("pin")
    devices = data["devices"]
    if not isinstance(devices, dict) or len(devices) > 64:
        raise Refused("pin")
    out = {}
    for device_id, entry in devices.items():
        if not re.fullmatch(_RUNNER_ID, device_id):
            raise Refused("pin")
        if not isinstance(entry, dict) or set(entry) != {"at", "key", "kind", "name"}:
            raise Refused("pin")
        if entry["kind"] not in ("machine", "runner"):
            raise Refused("pin")
        if not isinstance(entry["key"], str) or not re.fullmatch(_KEY43, entry["key"]):
            raise Refused("pin")
        if not isinstance(entry["at"], str) or not re.fullmatch(_TIME, entry["at"]):
            raise Refused("pin")
        if not _name_ok(entry["name"]):
            raise Refused("pin")
        key = base64.urlsafe_b64decode(entry["key"] + "=").hex()
        out[device_id] = {**entry, "key": key}
    if check is not None:
        check_id, check_key = check
        if check_id is not None and check_id in out:
            raise Refused("key_revoked")
        if check_key is not None and any(e["key"] == check_key.hex() for e in out.values()):
            raise Refused("key_revoked")
    return dict(sorted(out.items()))


# -- §14 lineage ------------------------------------------------------------------------------

_HEX32, _HEX64 = "[0-9a-f]{32}", "[0-9a-f]{64}"


def _num(value: Any, low: int) -> int:
    if not isinstance(value, str) or not re.fullmatch("0|[1-9][0-9]*", value):
        raise Refused("lineage")
    if not low <= int(value) <= 2**63 - 1:
        raise Refused("lineage")
    return int(value)


def _keys(value: Any, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise Refused("lineage")
    return value


def _write(value: Any) -> dict[str, Any]:
    value = _keys(value, {"digest", "rev"})
    if not isinstance(value["digest"], str) or not re.fullmatch(_HEX64, value["digest"]):
        raise Refused("lineage")
    return {"digest": value["digest"], "rev": _num(value["rev"], 1)}


def read_lineage(secret: str, revision: int) -> dict[str, Any]:
    """§14.1: LINEAGE, and its consistency with the revision that carries it."""
    try:
        doc = _keys(
            _decode_json(secret.encode()), {"audit", "devices", "floor", "parent", "saved", "v"}
        )
    except (Refused, UnicodeError):
        raise Refused("lineage") from None
    if doc["v"] != "2":
        raise Refused("lineage")
    if not isinstance(doc["devices"], dict) or len(doc["devices"]) > 64:
        raise Refused("lineage")
    devices = {}
    for device_id, entry in doc["devices"].items():
        if not re.fullmatch(_HEX32, device_id):
            raise Refused("lineage")
        entry = _keys(entry, {"digest", "name", "rev"})
        if not _name_ok(entry["name"]):
            raise Refused("lineage")
        write = _write({"digest": entry["digest"], "rev": entry["rev"]})
        devices[device_id] = {**write, "name": entry["name"]}
    saved = _keys(doc["saved"], {"at", "by", "name"})
    if not isinstance(saved["at"], str) or not re.fullmatch(_TIME, saved["at"]):
        raise Refused("lineage")
    if not isinstance(saved["by"], str) or not re.fullmatch(_HEX32, saved["by"]):
        raise Refused("lineage")
    if not _name_ok(saved["name"]):
        raise Refused("lineage")
    audit = None
    if doc["audit"] is not None:
        anchor = _keys(doc["audit"], {"head", "seq"})
        if not isinstance(anchor["head"], str) or not re.fullmatch(_HEX64, anchor["head"]):
            raise Refused("lineage")
        audit = {"head": anchor["head"], "seq": _num(anchor["seq"], 1)}
    parent = None if doc["parent"] is None else _write(doc["parent"])
    floor = _num(doc["floor"], 0)
    # Consistency with revision r.
    if (parent is None) != (revision == 1) or (parent and parent["rev"] != revision - 1):
        raise Refused("lineage")
    if any(d["rev"] >= revision for d in devices.values()) or floor >= revision:
        raise Refused("lineage")
    return {
        "parent": parent,
        "devices": dict(sorted(devices.items())),
        "floor": floor,
        "saved_at": saved["at"],
        "saved_by": saved["by"],
        "saved_name": saved["name"],
        "audit": audit,
    }


def _lineage_text(lineage: dict[str, Any]) -> bytes:
    def w(write: dict[str, Any]) -> dict[str, str]:
        return {"digest": write["digest"], "rev": str(write["rev"])}

    audit = lineage["audit"]
    return _canonical(
        {
            "audit": None if audit is None else {"head": audit["head"], "seq": str(audit["seq"])},
            "devices": {d: {**w(e), "name": e["name"]} for d, e in lineage["devices"].items()},
            "floor": str(lineage["floor"]),
            "parent": None if lineage["parent"] is None else w(lineage["parent"]),
            "saved": {
                "at": lineage["saved_at"],
                "by": lineage["saved_by"],
                "name": lineage["saved_name"],
            },
            "v": "2",
        }
    )


def next_lineage(
    previous: str | None,
    parent: dict[str, Any] | None,
    device: dict[str, str],
    at: str,
    audit: dict[str, Any] | None,
) -> str:
    """§14.1 "Writing": the record a save writes after ``parent`` (whose record is
    ``previous``)."""
    prev = None
    if previous is not None:
        prev = read_lineage(previous, parent["rev"] if parent else 1)
    devices = dict(prev["devices"]) if prev else {}
    floor = prev["floor"] if prev else 0
    if prev is not None and parent is not None:
        devices[prev["saved_by"]] = {**parent, "name": prev["saved_name"]}
    record = {
        "parent": parent,
        "devices": devices,
        "floor": floor,
        "saved_at": at,
        "saved_by": device["id"],
        "saved_name": device["name"],
        "audit": audit,
    }
    while len(devices) > 64 or len(_lineage_text(record)) > 16_384:
        oldest = min(devices, key=lambda d: (devices[d]["rev"], d))
        floor = max(floor, devices.pop(oldest)["rev"])
        record["floor"] = floor
    return _lineage_text(record).decode()


def _mem_write(doc: Any) -> tuple[int, str] | None:
    return None if doc is None else (int(doc["rev"]), doc["digest"])


def _later(a: tuple[int, str] | None, b: tuple[int, str]) -> tuple[int, str]:
    return b if a is None or b[0] >= a[0] else a


def check_descent(
    memory: dict[str, Any] | None,
    version: int,
    revision: int,
    digest: str,
    lineage: dict[str, Any] | None,
    device_id: str | None,
) -> dict[str, Any]:
    """§14.2: refuse, or return the memory after accepting (the memory as JSON)."""
    write = (revision, digest)
    if memory is not None:
        head = _mem_write(memory["head"])
        assert head is not None
        if version < memory["format"]:
            raise Refused("downgrade")
        if revision < head[0]:
            raise Refused("rollback")
        if revision == head[0] and digest != head[1]:
            raise Refused("fork")
        if revision > head[0] and write != _mem_write(memory["pending"]) and version == 2:
            assert lineage is not None
            parent = lineage["parent"]
            if revision == head[0] + 1 and (parent["rev"], parent["digest"]) != head:
                raise Refused("fork")
            seen = {d: _mem_write(w) for d, w in memory["devices"].items()}
            if memory["head_by"] is not None:
                seen[memory["head_by"]] = head
            own = _mem_write(memory["own"])
            if device_id is not None and own is not None:
                seen[device_id] = _later(seen.get(device_id), own)
            for device, earlier in seen.items():
                assert earlier is not None
                entry = lineage["devices"].get(device)
                if entry is None:
                    if earlier[0] > lineage["floor"]:
                        raise Refused("fork")
                elif entry["rev"] < earlier[0] or (
                    entry["rev"] == earlier[0] and entry["digest"] != earlier[1]
                ):
                    raise Refused("fork")
    # Remembering.
    own = _mem_write(memory["own"]) if memory else None
    pending = _mem_write(memory["pending"]) if memory else None
    if pending == write:
        own = write
    elif lineage is not None and device_id is not None:
        if lineage["saved_by"] == device_id:
            own = _later(own, write)
        elif device_id in lineage["devices"]:
            entry = lineage["devices"][device_id]
            own = _later(own, (entry["rev"], entry["digest"]))
    if pending is not None and pending[0] <= revision:
        pending = None
    confirmed = memory is not None and (
        memory["confirmed"] is True or (revision > int(memory["head"]["rev"]) and write != own)
    )

    def doc(w: tuple[int, str] | None) -> Any:
        return None if w is None else {"digest": w[1], "rev": str(w[0])}

    return {
        "format": max(version, memory["format"]) if memory else version,
        "head": doc(write),
        "head_by": lineage["saved_by"] if lineage else None,
        "devices": {d: doc((e["rev"], e["digest"])) for d, e in lineage["devices"].items()}
        if lineage
        else {},
        "own": doc(own),
        "pending": doc(pending),
        "confirmed": confirmed,
    }
