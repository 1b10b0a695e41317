"""Vectors for the pinned contacts (format.md §15.5): the single record every client before
shards wrote, the sharded set a writer makes beyond one item, and each way a set departs
from the grammar (every one ``identity``). Keys derive from fixed seeds: reproducible."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from vault_core.b64url import b64url_encode
from vault_core.encoding import canonical_json
from vault_core.teams import IdentityKeys, parse_identity
from vault_core.teams.contacts import CONTACTS_ITEM, Contacts, shard_name

AT = "2026-12-07T12:00:00Z"


def _person(n: int) -> IdentityKeys:
    return IdentityKeys(uuid.UUID(int=0xC0 + n), hashlib.sha256(b"contact %d" % n).digest())


def _entry(n: int, verified: str = "fingerprint") -> tuple[str, dict[str, str]]:
    keys = _person(n)
    return keys.account_id.hex, {
        "at": AT,
        "email": f"person{n}@example.com",
        "keys": b64url_encode(keys.sign_key + keys.box_key),
        "verified": verified,
    }


def _record(people: range, v: str, shards: str | None = None) -> str:
    doc: dict[str, Any] = {"contacts": dict(_entry(n) for n in people), "v": v}
    if shards is not None:
        doc["shards"] = shards
    return canonical_json(doc).decode()


def _value(people: range) -> dict[str, Any]:
    out = {}
    for n in people:
        keys = _person(n)
        out[keys.account_id.hex] = {
            "at": AT,
            "email": f"person{n}@example.com",
            "verified": "fingerprint",
            "sign_key": keys.sign_key.hex(),
            "box_key": keys.box_key.hex(),
        }
    return dict(sorted(out.items()))


# Three shards of two contacts each, as §15.5's reader takes them.
SHARDED = {
    CONTACTS_ITEM: _record(range(0, 2), "2", "3"),
    shard_name(2): _record(range(2, 4), "2"),
    shard_name(3): _record(range(4, 6), "2"),
}


def _vector(name: str, description: str, records: dict[str, str], expect: str) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "kind": "contacts",
        "name": f"contacts-{name}",
        "description": description,
        "records": records,
        "expect": expect,
    }
    return vector


def _ok(name: str, description: str, records: dict[str, str], people: range) -> dict[str, Any]:
    return {**_vector(name, description, records, "ok"), "value": _value(people)}


def _written(count: int) -> dict[str, str]:
    """The records a writer makes for ``count`` contacts pinned one by one."""
    contacts = Contacts()
    stored: dict[str, str] = {}
    for n in range(count):
        identity = parse_identity(_person(n).bundle())
        contacts.pin(identity, f"person{n}@example.com", "fingerprint", AT, replace=False)
        stored.update(contacts.records())
    return stored


def _with(records: dict[str, str], **changes: str | None) -> dict[str, str]:
    out = dict(records)
    for key, text in changes.items():
        name = CONTACTS_ITEM if key == "s1" else shard_name(int(key[1:]))
        if text is None:
            del out[name]
        else:
            out[name] = text
    return out


def contacts_vectors() -> list[dict[str, Any]]:
    single = _record(range(0, 2), "1")
    first = SHARDED[CONTACTS_ITEM]
    duplicate = _record(range(3, 5), "2")  # person 3 is shard 2's too, with the same keys
    written = _written(100)
    assert len(written) == 2, "100 contacts are two shards"
    return [
        _ok("none", "no contacts item: no contacts", {}, range(0)),
        _ok(
            "single",
            'one record in the single form ("v":"1"), byte for byte as clients before shards '
            "wrote it",
            {CONTACTS_ITEM: single},
            range(0, 2),
        ),
        _ok(
            "single-ignores-shards",
            "the single form beside an item named like a shard: that item is not read",
            {CONTACTS_ITEM: single, shard_name(2): "not read"},
            range(0, 2),
        ),
        _ok("sharded", "three shards, shard 1 counting them: their union", SHARDED, range(6)),
        _ok(
            "sharded-ignores-beyond-count",
            "three shards and a fourth item beyond the count: that item is not read",
            {**SHARDED, shard_name(4): "not read"},
            range(6),
        ),
        _ok(
            "written-100",
            "100 contacts pinned one by one as a writer lays them out (§15.5, Writing)",
            written,
            range(100),
        ),
        _vector("shard-missing", "shard 3 of 3 absent", _with(SHARDED, s3=None), "identity"),
        _vector(
            "shard-single-form",
            'shard 2 in the single form ("v":"1")',
            _with(SHARDED, s2=_record(range(2, 4), "1")),
            "identity",
        ),
        _vector(
            "shard-with-count",
            "shard 2 with a count of its own",
            _with(SHARDED, s2=_record(range(2, 4), "2", "3")),
            "identity",
        ),
        _vector(
            "count-1",
            'shard 1 counts "1" shard',
            _with(SHARDED, s1=first.replace('"shards":"3"', '"shards":"1"')),
            "identity",
        ),
        _vector(
            "count-33",
            'shard 1 counts "33" shards, beyond 32',
            _with(SHARDED, s1=first.replace('"shards":"3"', '"shards":"33"')),
            "identity",
        ),
        _vector(
            "count-leading-zero",
            'shard 1 counts "03" shards',
            _with(SHARDED, s1=first.replace('"shards":"3"', '"shards":"03"')),
            "identity",
        ),
        _vector(
            "count-number",
            "shard 1 counts with a JSON number",
            _with(SHARDED, s1=first.replace('"shards":"3"', '"shards":3')),
            "identity",
        ),
        _vector(
            "count-in-single-form",
            'a count with "v":"1"',
            _with(SHARDED, s1=_record(range(0, 2), "1", "3")),
            "identity",
        ),
        _vector(
            "sharded-form-without-count",
            'shard 1 with "v":"2" and no count',
            {CONTACTS_ITEM: _record(range(0, 2), "2")},
            "identity",
        ),
        _vector(
            "account-in-two-shards",
            "an account in shards 2 and 3, with the same keys",
            _with(SHARDED, s3=duplicate),
            "identity",
        ),
        _vector(
            "shard-damaged-entry",
            "shard 3 holds a contact whose keys are 63 bytes",
            _with(
                SHARDED,
                s3=SHARDED[shard_name(3)].replace(_entry(5)[1]["keys"], b64url_encode(b"k" * 63)),
            ),
            "identity",
        ),
        _vector(
            "shard-not-json",
            "shard 2 is not JSON",
            _with(SHARDED, s2=SHARDED[shard_name(2)][:-1]),
            "identity",
        ),
    ]
