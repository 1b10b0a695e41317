"""A second reader of docs/format.md §15.8 (runner grants of team items), written from the
document with PyNaCl, the first reader's §6.6 checks and the second reader's log replay
(spec_reader_teams); it shares no code with vault_core. It returns what a vector's
``value`` holds, or raises Refused with the code of the first failing step."""

from __future__ import annotations

import re
import struct
from typing import Any

from nacl import bindings as s
from nacl.exceptions import CryptoError

from tests.unit.spec_reader import Refused, _check_item, _decode_json, _x25519_keypair
from tests.unit.spec_reader_teams import ROLES, replay

_FIXED = 178  # the fixed fields before BODY


def read_team_grant(
    blob: bytes,
    seed: bytes,
    account: str,
    runner: str,
    team: str,
    owner_key: bytes,
    seen: int,
    entries: list[bytes],
) -> dict[str, Any]:
    if len(blob) > 1_048_576:
        raise Refused("limit_exceeded")
    pk, sk = _x25519_keypair(seed)
    try:
        payload = s.crypto_box_seal_open(blob, pk, sk)
    except CryptoError:
        raise Refused("grant_auth") from None
    if len(payload) < 6 or payload[:4] != b"ZKTG":
        raise Refused("malformed")
    if struct.unpack(">H", payload[4:6])[0] != 1:
        raise Refused("unsupported_version")
    if len(payload) < _FIXED + 64:
        raise Refused("malformed")
    epoch, log_seq = struct.unpack(">QQ", payload[54:70])
    log_head, grantor = payload[70:102], payload[102:134]
    (revision,) = struct.unpack(">Q", payload[134:142])
    (body_len,) = struct.unpack(">I", payload[174:178])
    if len(payload) != _FIXED + body_len + 64:
        raise Refused("malformed")
    if not all(1 <= v < 2**63 for v in (epoch, log_seq, revision)):
        raise Refused("malformed")
    named = (payload[6:22].hex(), payload[22:38].hex(), payload[38:54].hex(), payload[142:174])
    if named != (account, runner, team, pk):
        raise Refused("grant_binding")
    signed, signature = payload[: _FIXED + body_len], payload[_FIXED + body_len :]
    try:
        s.crypto_sign_open(signature + b"zkvault/1 team-grant" + signed, owner_key)
    except CryptoError:
        raise Refused("grant_auth") from None
    if revision < seen:
        raise Refused("rollback")
    items = _items(payload[_FIXED : _FIXED + body_len])
    states = replay(entries)  # step 8
    if states[-1]["team"] != team:
        raise Refused("wrong_vault")
    if log_seq > states[-1]["seq"]:
        raise Refused("team_log_gap")
    if states[log_seq - 1]["head"] != log_head.hex():
        raise Refused("team_log_fork")
    if states[log_seq - 1]["epoch"] != epoch:
        raise Refused("team_log")
    for st in states[log_seq - 1 :]:
        m = st["members"].get(account)
        if m is None or ROLES.index(m["role"]) < 2 or m["sign_key"] != grantor.hex():
            raise Refused("team_permission")
    return {
        "revision": revision,
        "epoch": str(epoch),
        "log_seq": str(log_seq),
        "log_head": log_head.hex(),
        "grantor_sign_key": grantor.hex(),
        "items": items,
    }


def _items(body: bytes) -> list[dict[str, Any]]:
    """§7 step 7."""
    data = _decode_json(body)
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
        if item_id <= previous:
            raise Refused("non_canonical")
        _check_item(item)
        if item["name"] in names:
            raise Refused("invalid_item")
        previous = item_id
        names.add(item["name"])
    return list(data["items"])
