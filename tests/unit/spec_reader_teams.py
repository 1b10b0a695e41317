"""A second reader of docs/format.md §15 (teams), written from the document with PyNaCl
and the first reader's §6.6 JSON decoder and item checks; it shares no code with
vault_core.teams. It returns what a vector's ``value`` holds, or raises Refused with the
code of the first failing step."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import unicodedata
from typing import Any

from nacl import bindings as s
from nacl.exceptions import CryptoError

from tests.unit.spec_reader import Refused, _check_item, _decode_json, _h, _mac, fingerprint

_ID = re.compile("[0-9a-f]{32}")
_WHITE_SPACE = (  # Unicode's White_Space property
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_DEC = re.compile("0|[1-9][0-9]*")
ROLES = ["reader", "writer", "admin", "owner"]
COMMON = ["at", "by", "epoch", "op", "prev", "seq", "team", "v"]
OPS = {
    "create": ["boxes", "key_check", "member", "name"],
    "add": ["boxes", "member"],
    "remove": ["account", "boxes", "key_check"],
    "leave": [],
    "role": ["account", "role"],
    "rotate": ["boxes", "key_check"],
}


def _sign_ok(signature: bytes, message: bytes, key: bytes) -> bool:
    try:
        s.crypto_sign_open(signature + message, key)
    except (CryptoError, ValueError):
        return False
    return True


# -- §15.1 --------------------------------------------------------------------------------


def read_identity(bundle: bytes, account: str | None) -> dict[str, str]:
    if len(bundle) < 6 or bundle[:4] != b"ZKID":
        raise Refused("malformed")
    if struct.unpack(">H", bundle[4:6])[0] != 1:
        raise Refused("unsupported_version")
    if len(bundle) != 150:
        raise Refused("malformed")
    if not _sign_ok(bundle[86:], b"zkvault/1 identity" + bundle[:86], bundle[22:54]):
        raise Refused("identity_auth")
    if account is not None and bundle[6:22].hex() != account:
        raise Refused("identity_binding")
    return {
        "account_id": bundle[6:22].hex(),
        "sign_key": bundle[22:54].hex(),
        "box_key": bundle[54:86].hex(),
        "safety_number": fingerprint("identity", bundle[6:86]),
    }


def derive_identity(account: str, seed: bytes) -> bytes:
    """§15.1: the bundle a seed makes (Ed25519 signatures are deterministic)."""
    sign_pk, sign_sk = s.crypto_sign_seed_keypair(_mac(seed, b"zkvault/1 identity-sign"))
    box_sk = hashlib.sha512(_mac(seed, b"zkvault/1 identity-box")).digest()[:32]
    head = b"ZKID\x00\x01" + bytes.fromhex(account) + sign_pk + s.crypto_scalarmult_base(box_sk)
    return head + s.crypto_sign(b"zkvault/1 identity" + head, sign_sk)[:64]


def _box_keys(account: str, seed: bytes) -> tuple[bytes, bytes]:
    box_sk = hashlib.sha512(_mac(seed, b"zkvault/1 identity-box")).digest()[:32]
    return s.crypto_scalarmult_base(box_sk), box_sk


# -- §15.2 --------------------------------------------------------------------------------


def open_box(box: bytes, account: str, seed: bytes, team: str, epoch: int, check: bytes) -> bytes:
    pk, sk = _box_keys(account, seed)
    try:
        payload = s.crypto_box_seal_open(box, pk, sk)
    except (CryptoError, ValueError):
        raise Refused("team_key") from None
    if len(payload) != 78 or payload[:4] != b"ZKTK":
        raise Refused("malformed")
    if struct.unpack(">H", payload[4:6])[0] != 1:
        raise Refused("unsupported_version")
    if (
        payload[6:22].hex() != team
        or struct.unpack(">Q", payload[22:30])[0] != epoch
        or payload[30:46].hex() != account
    ):
        raise Refused("team_key")
    key = payload[46:]
    expected = _mac(
        key, b"zkvault/1 team-key-check" + bytes.fromhex(team) + struct.pack(">Q", epoch)
    )
    if not hmac.compare_digest(expected, check):
        raise Refused("team_key_check")
    return key


# -- §15.3 --------------------------------------------------------------------------------


def _b64(value: Any, size: int) -> bytes:
    if not isinstance(value, str) or not re.fullmatch("[A-Za-z0-9_-]*", value):
        raise Refused("malformed")
    if len(value) % 4 == 1:
        raise Refused("malformed")
    data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != value or len(data) != size:
        raise Refused("malformed")
    return data


def _dec(value: Any, low: int) -> int:
    if not isinstance(value, str) or not _DEC.fullmatch(value):
        raise Refused("malformed")
    n = int(value)
    if not low <= n < 2**63:
        raise Refused("malformed")
    return n


def _hexid(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Refused("malformed")
    return value


def read_entry(raw: bytes) -> dict[str, Any]:
    if len(raw) > 262_144:
        raise Refused("limit_exceeded")
    outer = _decode_json(raw)
    if not isinstance(outer, dict) or sorted(outer) != ["body", "sig"]:
        raise Refused("malformed")
    body = outer["body"]
    if not isinstance(body, dict):
        raise Refused("malformed")
    sig = _b64(outer["sig"], 64)
    if not isinstance(body.get("v"), str):
        raise Refused("malformed")
    if body["v"] != "1":
        raise Refused("unsupported_version")
    op = body.get("op")
    if op not in OPS:
        raise Refused("malformed")
    if sorted(body) != sorted(COMMON + OPS[op]):
        raise Refused("malformed")
    e: dict[str, Any] = {"op": op, "sig": sig, "raw": raw, "body": body}
    e["team"] = _hexid(body["team"])
    e["seq"] = _dec(body["seq"], 1)
    prev = body["prev"]
    if not isinstance(prev, str) or not (
        prev == "" if e["seq"] == 1 else re.fullmatch("[0-9a-f]{64}", prev)
    ):
        raise Refused("malformed")
    e["prev"] = prev
    e["by"] = _hexid(body["by"])
    e["epoch"] = _dec(body["epoch"], 1)
    _dec(body["at"], 0)
    if op == "create":
        name = body["name"]
        if (
            not isinstance(name, str)
            or not 1 <= len(name) <= 128
            or re.search("[\x00-\x1f\x7f]", name)
        ):
            raise Refused("malformed")
        e["name"] = name
    if op in ("create", "add"):
        m = body["member"]
        keys = ["account", "email", "identity", "role", "verified"]
        if not isinstance(m, dict) or sorted(m) != keys:
            raise Refused("malformed")
        _hexid(m["account"])
        email = m["email"]
        if (
            not isinstance(email, str)
            or not 1 <= len(email) <= 320
            or "@" not in email
            or re.search(r"[\s\x00-\x1f\x7f]", email)
        ):
            raise Refused("malformed")
        if m["role"] not in ROLES:
            raise Refused("malformed")
        if m["verified"] not in (["self"] if op == "create" else ["fingerprint", "tofu"]):
            raise Refused("malformed")
        ident = read_identity(_b64(m["identity"], 150), m["account"])
        e["member"] = {
            "account": m["account"],
            "email": email,
            "role": m["role"],
            "verified": m["verified"],
            "sign_key": ident["sign_key"],
            "box_key": ident["box_key"],
        }
    if op in ("remove", "role"):
        e["account"] = _hexid(body["account"])
    if op == "role":
        if body["role"] not in ROLES:
            raise Refused("malformed")
        e["role"] = body["role"]
    if "boxes" in body:
        boxes = body["boxes"]
        if not isinstance(boxes, dict):
            raise Refused("malformed")
        if not 1 <= len(boxes) <= 1000:
            raise Refused("limit_exceeded")
        e["boxes"] = {_hexid(k): _b64(v, 126) for k, v in boxes.items()}
    if "key_check" in body:
        e["key_check"] = _b64(body["key_check"], 32)
    return e


# -- §15.4 --------------------------------------------------------------------------------


def _verify(e: dict[str, Any], sign_key_hex: str) -> None:
    message = b"zkvault/1 team-log" + _canonical_body(e["body"])
    if not _sign_ok(e["sig"], message, bytes.fromhex(sign_key_hex)):
        raise Refused("team_log_signature")


def _canonical_body(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _rank(role: str) -> int:
    return ROLES.index(role)


def apply_entry(st: dict[str, Any] | None, e: dict[str, Any]) -> dict[str, Any]:
    head = _h(b"zkvault/1 team-log-hash" + e["raw"]).hex()
    if st is None:
        if e["op"] != "create":
            raise Refused("team_log")
        if e["seq"] != 1:
            raise Refused("team_log_gap")
        m = e["member"]
        if m["account"] != e["by"] or m["role"] != "owner":
            raise Refused("team_log")
        _verify(e, m["sign_key"])
        if e["epoch"] != 1 or set(e["boxes"]) != {e["by"]}:
            raise Refused("team_log")
        return {
            "team": e["team"],
            "name": e["name"],
            "seq": 1,
            "head": head,
            "epoch": 1,
            "key_check": e["key_check"],
            "left": set(),
            "boxes": dict(e["boxes"]),
            "members": {e["by"]: {k: v for k, v in m.items() if k != "account"}},
        }
    if e["team"] != st["team"]:
        raise Refused("team_log")
    if e["seq"] != st["seq"] + 1:
        raise Refused("team_log_gap")
    if e["prev"] != st["head"]:
        raise Refused("team_log_fork")
    members = {a: dict(m) for a, m in st["members"].items()}
    signer = members.get(e["by"])
    if signer is None:
        raise Refused("team_permission")
    _verify(e, signer["sign_key"])
    op = e["op"]
    if op == "create":
        raise Refused("team_log")
    new_epoch = op in ("remove", "rotate")
    if e["epoch"] != st["epoch"] + (1 if new_epoch else 0):
        raise Refused("team_log")
    is_admin = _rank(signer["role"]) >= 2
    is_owner = signer["role"] == "owner"
    boxes, left = dict(st["boxes"]), set(st["left"])
    owners = [a for a, m in members.items() if m["role"] == "owner"]
    if op == "add":
        m = e["member"]
        if not is_admin or (m["role"] == "owner" and not is_owner):
            raise Refused("team_permission")
        if m["account"] in members:
            raise Refused("team_log")
        if len(members) >= 1000:
            raise Refused("limit_exceeded")
        if set(e["boxes"]) != {m["account"]}:
            raise Refused("team_log")
        members[m["account"]] = {k: v for k, v in m.items() if k != "account"}
        boxes.update(e["boxes"])
    elif op in ("remove", "role"):
        if not is_admin:
            raise Refused("team_permission")
        target = members.get(e["account"])
        if target is None:
            raise Refused("team_log")
        if op == "remove":
            if e["account"] == e["by"]:
                raise Refused("team_log")
            if target["role"] == "owner" and not is_owner:
                raise Refused("team_permission")
            del members[e["account"]]
        else:
            if e["role"] == target["role"]:
                raise Refused("team_log")
            if "owner" in (e["role"], target["role"]) and not is_owner:
                raise Refused("team_permission")
            if target["role"] == "owner" and owners == [e["account"]]:
                raise Refused("team_permission")
            target["role"] = e["role"]
    elif op == "leave":
        if owners == [e["by"]]:
            raise Refused("team_permission")
        del members[e["by"]]
        boxes.pop(e["by"], None)
        left.add(e["by"])
    elif not is_admin:  # rotate
        raise Refused("team_permission")
    key_check = st["key_check"]
    if new_epoch:
        if set(e["boxes"]) != set(members):
            raise Refused("team_log")
        boxes, left, key_check = dict(e["boxes"]), set(), e["key_check"]
    return {
        "team": st["team"],
        "name": st["name"],
        "seq": e["seq"],
        "head": head,
        "epoch": e["epoch"],
        "key_check": key_check,
        "left": left,
        "boxes": boxes,
        "members": members,
    }


def replay(entries: list[bytes]) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = []
    for raw in entries:
        states.append(apply_entry(states[-1] if states else None, read_entry(raw)))
    if not states:
        raise Refused("team_log")
    return states


def state_value(st: dict[str, Any]) -> dict[str, Any]:
    return {
        "team": st["team"],
        "name": st["name"],
        "seq": str(st["seq"]),
        "head": st["head"],
        "epoch": str(st["epoch"]),
        "key_check": st["key_check"].hex(),
        "left": sorted(st["left"]),
        "members": {a: dict(m) for a, m in sorted(st["members"].items())},
    }


# -- §15.6 and the memory of §15.4 / §15.7 ------------------------------------------------


def read_team_vault(
    blob: bytes, entries: list[bytes], account: str, seed: bytes, memory: dict[str, str] | None
) -> dict[str, Any]:
    states = replay(entries)
    if memory is not None:  # §15.4 "Memory", before the vault
        if memory["team"] != states[-1]["team"]:
            raise Refused("wrong_vault")
        seen = int(memory["log_seq"])
        if len(states) < seen:
            raise Refused("team_log_rollback")
        if states[seen - 1]["head"] != memory["log_head"]:
            raise Refused("team_log_fork")
    cur = states[-1]
    if account not in cur["members"]:
        raise Refused("team_permission")
    mine = read_identity(derive_identity(account, seed), account)
    me = cur["members"][account]
    if (me["sign_key"], me["box_key"]) != (mine["sign_key"], mine["box_key"]):
        raise Refused("identity_changed")
    team_key = open_box(
        cur["boxes"][account], account, seed, cur["team"], cur["epoch"], cur["key_check"]
    )
    # Steps 1-3.
    if len(blob) > 1_048_576:
        raise Refused("limit_exceeded")
    if len(blob) < 6 or blob[:4] != b"ZKTV":
        raise Refused("malformed")
    if struct.unpack(">H", blob[4:6])[0] != 1:
        raise Refused("unsupported_version")
    if len(blob) < 62:
        raise Refused("malformed")
    revision, epoch, log_seq = struct.unpack(">QQQ", blob[22:46])
    if not all(1 <= v < 2**63 for v in (revision, epoch, log_seq)):
        raise Refused("malformed")
    if len(blob) < 98:
        raise Refused("malformed")
    (n,) = struct.unpack(">I", blob[94:98])
    if n > 1000:
        raise Refused("limit_exceeded")
    mac_at = 98 + 56 * n
    if len(blob) < mac_at + 32 + 64:
        raise Refused("malformed")
    manifest = [
        (blob[o : o + 16], struct.unpack(">Q", blob[o + 16 : o + 24])[0], blob[o + 24 : o + 56])
        for o in range(98, mac_at, 56)
    ]
    for i, (iid, rev, _) in enumerate(manifest):
        if i and iid <= manifest[i - 1][0]:
            raise Refused("non_canonical")
        if not 1 <= rev <= revision:
            raise Refused("malformed")
    records, pos = [], mac_at + 96
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
    # Step 4.
    if blob[6:22].hex() != cur["team"]:
        raise Refused("wrong_vault")
    # Step 5.
    if log_seq > cur["seq"]:
        raise Refused("team_log_gap")
    at = states[log_seq - 1]
    if blob[62:94].hex() != at["head"]:
        raise Refused("team_log_fork")
    if epoch != at["epoch"]:
        raise Refused("team_log")
    if epoch < cur["epoch"]:
        raise Refused("stale_epoch")
    # Step 6.
    writer = blob[46:62].hex()
    for st in states[log_seq - 1 :]:
        if writer not in st["members"] or _rank(st["members"][writer]["role"]) < 1:
            raise Refused("team_permission")
    # Step 7.
    signed = blob[: mac_at + 32]
    signature = blob[mac_at + 32 : mac_at + 96]
    if not _sign_ok(
        signature,
        b"zkvault/1 team-vault" + signed,
        bytes.fromhex(cur["members"][writer]["sign_key"]),
    ):
        raise Refused("team_vault_signature")
    # Step 8.
    if memory is not None:
        if revision < int(memory["revision"]):
            raise Refused("rollback")
        if (
            revision == int(memory["revision"])
            and hashlib.sha256(blob).hexdigest() != memory["digest"]
        ):
            raise Refused("fork")
    # Step 9.
    if not hmac.compare_digest(
        _mac(_mac(team_key, b"zkvault/1 team-header-mac"), blob[:mac_at]),
        blob[mac_at : mac_at + 32],
    ):
        raise Refused("header_auth")
    # Step 10: §6.1 steps 13-15.
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
    for r in records:
        if _h(r) != by_id[r[:16]][1]:
            raise Refused("body_auth")
    item_key = _mac(team_key, b"zkvault/1 team-item-key")
    items, names = [], set()
    audit = None
    for r in records:
        ad = b"zkvault/1 team-item" + b"\x00\x01" + blob[6:22] + struct.pack(">Q", epoch) + r[:24]
        try:
            plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(r[52:], ad, r[24:48], item_key)
        except CryptoError:
            raise Refused("body_auth") from None
        item = _decode_json(plain)
        _check_item(item)
        if item["name"] in names:
            raise Refused("invalid_item")
        names.add(item["name"])
        if item["name"] == ".zkvault-audit-anchor":
            audit = _anchor(item["secret"])
        if not _reserved(item["name"]):
            items.append(
                {**item, "id": r[:16].hex(), "revision": str(struct.unpack(">Q", r[16:24])[0])}
            )
    header = {
        "revision": str(revision),
        "epoch": str(epoch),
        "log_seq": str(log_seq),
        "writer": writer,
    }
    return {"audit": audit, "header": header, "items": sorted(items, key=lambda d: d["id"])}


# -- §15.5, the contacts ------------------------------------------------------------------

_CONTACTS = ".zkvault-contacts"


def _contacts_record(secret: str, shard: int) -> tuple[int, dict[str, Any]]:
    """(COUNT, CONTACTS) of one record: shard 1 in either form, a later shard in the
    sharded form; COUNT is 1 for the single form, 0 for a later shard."""
    try:
        data = _decode_json(secret.encode())
    except (Refused, UnicodeError):
        raise Refused("identity") from None
    if not isinstance(data, dict):
        raise Refused("identity")
    keys = set(data)
    if shard == 1 and keys == {"contacts", "v"} and data["v"] == "1":
        count = 1
    elif shard == 1 and keys == {"contacts", "shards", "v"} and data["v"] == "2":
        if not isinstance(data["shards"], str) or not re.fullmatch("[1-9][0-9]*", data["shards"]):
            raise Refused("identity")
        count = int(data["shards"])
        if not 2 <= count <= 32:
            raise Refused("identity")
    elif shard > 1 and keys == {"contacts", "v"} and data["v"] == "2":
        count = 0
    else:
        raise Refused("identity")
    if not isinstance(data["contacts"], dict):
        raise Refused("identity")
    out = {}
    for account, entry in data["contacts"].items():
        if not _ID.fullmatch(account):
            raise Refused("identity")
        if not isinstance(entry, dict) or set(entry) != {"at", "email", "keys", "verified"}:
            raise Refused("identity")
        try:
            keys64 = _b64(entry["keys"], 64)
        except Refused:
            raise Refused("identity") from None
        at, email = entry["at"], entry["email"]
        if not isinstance(at, str) or not re.fullmatch(
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", at
        ):
            raise Refused("identity")
        if not isinstance(email, str) or not 1 <= len(email) <= 320:
            raise Refused("identity")
        if entry["verified"] not in ("fingerprint", "tofu"):
            raise Refused("identity")
        out[account] = {
            "at": at,
            "email": email,
            "verified": entry["verified"],
            "sign_key": keys64[:32].hex(),
            "box_key": keys64[32:].hex(),
        }
    return count, out


def read_contacts(records: dict[str, str]) -> dict[str, Any]:
    """The contacts of §15.5 from the vault's items by name (damaged: identity)."""
    if _CONTACTS not in records:
        return {}
    count, found = _contacts_record(records[_CONTACTS], 1)
    for shard in range(2, count + 1):
        name = f"{_CONTACTS}-{shard}"
        if name not in records:
            raise Refused("identity")
        _, more = _contacts_record(records[name], shard)
        if set(more) & set(found):
            raise Refused("identity")
        found.update(more)
    return dict(sorted(found.items()))


def _reserved(name: str) -> bool:
    """§12: a bookkeeping name after NFKC and trimming White_Space; hidden from items."""
    return unicodedata.normalize("NFKC", name).strip(_WHITE_SPACE).startswith(".zkvault-")


def _anchor(secret: str) -> dict[str, str]:
    """§15 "Audit anchors": exactly {"head":64 hex,"seq":decimal from 1,"v":"1"}, canonical."""
    try:
        doc = json.loads(secret)
    except ValueError:
        raise Refused("malformed") from None
    if (
        not isinstance(doc, dict)
        or sorted(doc) != ["head", "seq", "v"]
        or doc["v"] != "1"
        or not isinstance(doc["head"], str)
        or not re.fullmatch("[0-9a-f]{64}", doc["head"])
        or not isinstance(doc["seq"], str)
        or not re.fullmatch("[1-9][0-9]*", doc["seq"])
        or int(doc["seq"]) > 2**63 - 1
        or json.dumps(doc, sort_keys=True, separators=(",", ":")) != secret
    ):
        raise Refused("malformed")
    return {"head": doc["head"], "seq": doc["seq"]}
