"""Vectors for format.md §12 and §13 and the reserved names of §6.6: the bookkeeping
records' grammar (pins, grant lists), fingerprints and typed fingerprints, which item
names are reserved, and local state sealing. Also the §6.1 rules these made precise
(numbers of any length, step 13's order). Fields: tests/vectors/README.md."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.vectors.common import (
    ITEMS,
    PASSPHRASE,
    Stream,
    b64,
    build_vault,
    flip,
    record_spans,
    reopen,
    vault_vector,
)
from tests.vectors.forge import forge_vault
from vault_core import fingerprint
from vault_core.encoding import canonical_json
from vault_core.local_state import seal_state

RID = "0d5e8a80-9f0e-4a0b-9c7e-3c1f5e2b7d44"
RID2 = "6f1d1c52-3d6e-4c55-9a55-0b8f1f0f4a11"
KEY = bytes(range(32))
KEY_TEXT = base64.urlsafe_b64encode(KEY).rstrip(b"=").decode()
ITEM_A, ITEM_B = "0" * 31 + "1", "0" * 31 + "2"


def _doc(runners: Any, v: Any = "1") -> str:
    return canonical_json({"runners": runners, "v": v}).decode()


def _earlier_pins(runners: Any, v: Any = 1, ensure_ascii: bool = True) -> str:
    """PINS_0: the text clients wrote before §12.1's grammar."""
    return json.dumps(
        {"v": v, "runners": dict(sorted(runners.items()))},
        separators=(",", ":"),
        ensure_ascii=ensure_ascii,
    )


def _record(kind: str, name: str, description: str, secret: str, expect: str, **ok: Any) -> Any:
    return {
        "kind": kind,
        "name": name,
        "description": description,
        "expect": expect,
        "secret": secret,
        **ok,
    }


def pins_vectors() -> list[dict[str, Any]]:
    good = {RID: {"key": KEY_TEXT, "name": "ci-1 ✓"}}

    def bad(name: str, description: str, secret: str) -> Any:
        return _record("pins", f"pins-{name}", description, secret, "pin")

    std_key = base64.b64encode(bytes([0xFB] * 32)).decode().rstrip("=")
    return [
        _record(
            "pins",
            "pins-ok",
            "one runner pinned",
            _doc(good),
            "ok",
            value={RID: {"key": KEY.hex(), "name": "ci-1 ✓"}},
        ),
        _record("pins", "pins-ok-empty", "no runner pinned yet", _doc({}), "ok", value={}),
        _record(
            "pins",
            "pins-earlier-form",
            "PINS_0, as clients before the grammar wrote it (a name outside ASCII escaped)",
            _earlier_pins(good),
            "ok",
            value={RID: {"key": KEY.hex(), "name": "ci-1 ✓"}},
        ),
        bad(
            "earlier-form-raw-utf8",
            "PINS_0 with the name in raw UTF-8, not escaped",
            _earlier_pins(good, ensure_ascii=False),
        ),
        bad("earlier-form-version-true", "PINS_0 with v true", _earlier_pins(good, v=True)),
        bad(
            "earlier-form-name-first",
            'PINS_0 with "name" before "key"',
            _earlier_pins({RID: {"name": "ci-1", "key": KEY_TEXT}}),
        ),
        bad(
            "earlier-form-standard-alphabet-key",
            "PINS_0 with a key in the standard base64 alphabet",
            _earlier_pins({RID: {"key": std_key, "name": "ci-1"}}),
        ),
        bad("version-true", '"v": true', _doc(good, True)),
        bad("version-number", '"v": 1 (a number)', _doc(good, 1)),
        bad("version-2", '"v": "2"', _doc(good, "2")),
        bad("version-twice", '"v" twice', _doc(good)[:-1] + ',"v":"1"}'),
        bad("not-canonical", "a space after a colon", _doc(good).replace(":", ": ", 1)),
        bad("keys-unsorted", '"v" before "runners"', '{"v":"1","runners":{}}'),
        bad("nan-in-name", "NaN where the name goes", _doc(good).replace('"ci-1 ✓"', "NaN")),
        bad("not-json", "not JSON", "{runners"),
        bad("shape", "an array", "[]"),
        bad(
            "extra-key",
            "a third top-level key",
            canonical_json({"runners": {}, "v": "1", "x": None}).decode(),
        ),
        bad(
            "standard-alphabet-key",
            "a key in the standard base64 alphabet (+ and /)",
            _doc({RID: {"key": std_key, "name": "ci-1"}}),
        ),
        bad(
            "padded-key",
            "a key with = padding",
            _doc({RID: {"key": KEY_TEXT + "=", "name": "ci-1"}}),
        ),
        bad(
            "short-key",
            "a 31-byte key",
            _doc({RID: {"key": KEY_TEXT[:-2], "name": "ci-1"}}),
        ),
        bad(
            "runner-id-upper-case",
            "the runner id in upper case",
            _doc({RID.upper(): {"key": KEY_TEXT, "name": "ci-1"}}),
        ),
        bad(
            "runner-twice-two-spellings",
            "one runner under its lower-case and upper-case ids",
            _doc(
                {RID.upper(): {"key": KEY_TEXT, "name": "a"}, RID: {"key": KEY_TEXT, "name": "b"}}
            ),
        ),
        bad(
            "runner-id-bare-hex",
            "the runner id as 32 bare hex digits",
            _doc({RID.replace("-", ""): {"key": KEY_TEXT, "name": "ci-1"}}),
        ),
        bad("name-empty", "an empty name", _doc({RID: {"key": KEY_TEXT, "name": ""}})),
        bad(
            "name-129-characters",
            "a name of 129 characters",
            _doc({RID: {"key": KEY_TEXT, "name": "é" * 129}}),
        ),
        _record(
            "pins",
            "pins-name-128-characters",
            "a name of 128 characters (256 UTF-8 bytes)",
            _doc({RID: {"key": KEY_TEXT, "name": "é" * 128}}),
            "ok",
            value={RID: {"key": KEY.hex(), "name": "é" * 128}},
        ),
        bad("name-control", "a tab in the name", _doc({RID: {"key": KEY_TEXT, "name": "a\tb"}})),
        bad("name-null", "a null name", _doc({RID: {"key": KEY_TEXT, "name": None}})),
        bad(
            "pin-extra-field",
            "a pin with a third field",
            _doc({RID: {"key": KEY_TEXT, "name": "a", "x": "y"}}),
        ),
    ]


def grant_list_vectors() -> list[dict[str, Any]]:
    def bad(name: str, description: str, secret: str) -> Any:
        return _record("grant_list", f"grant-list-{name}", description, secret, "grant_list")

    return [
        _record(
            "grant_list",
            "grant-list-ok",
            "two runners, one item and two items",
            _doc({RID: [ITEM_A, ITEM_B], RID2: [ITEM_B]}),
            "ok",
            value={RID: [ITEM_A, ITEM_B], RID2: [ITEM_B]},
        ),
        _record(
            "grant_list", "grant-list-ok-empty", "nobody granted anything", _doc({}), "ok", value={}
        ),
        _record(
            "grant_list",
            "grant-list-earlier-form",
            "GRANTS_0, as clients before the grammar wrote it (runner ids at the top level)",
            json.dumps(
                {RID2: [ITEM_B], RID: [ITEM_A, ITEM_B]}, sort_keys=True, separators=(",", ":")
            ),
            "ok",
            value={RID: [ITEM_A, ITEM_B], RID2: [ITEM_B]},
        ),
        bad(
            "earlier-form-spaced",
            "GRANTS_0 with a space after a colon",
            json.dumps({RID: [ITEM_A]}, separators=(",", ": ")),
        ),
        bad(
            "earlier-form-unsorted-runners",
            "GRANTS_0 with its runner ids in descending order",
            json.dumps({RID2: [ITEM_B], RID: [ITEM_A]}, separators=(",", ":")),
        ),
        bad(
            "earlier-form-unsorted-ids",
            "GRANTS_0 with a runner's item ids in descending order",
            json.dumps({RID: [ITEM_B, ITEM_A]}, separators=(",", ":")),
        ),
        bad(
            "earlier-form-with-v",
            "GRANTS_0 with a v key",
            json.dumps({RID: [ITEM_A], "v": 1}, sort_keys=True, separators=(",", ":")),
        ),
        bad("version-true", '"v": true', _doc({}, True)),
        bad("unsorted-ids", "item ids in descending order", _doc({RID: [ITEM_B, ITEM_A]})),
        bad("repeated-id", "one item id twice", _doc({RID: [ITEM_A, ITEM_A]})),
        bad("empty-list", "a runner granted an empty list", _doc({RID: []})),
        bad("upper-case-id", "an item id in upper case", _doc({RID: [ITEM_A.upper()[:-1] + "A"]})),
        bad("dashed-id", "an item id in the dashed UUID form", _doc({RID: [RID2]})),
        bad("runner-id-upper-case", "the runner id in upper case", _doc({RID.upper(): [ITEM_A]})),
        bad("ids-not-a-list", "a runner's items as a string", _doc({RID: ITEM_A})),
        bad("non-canonical", "a space", _doc({RID: [ITEM_A]}).replace(",", ", ")),
        bad("number", "an item id as a number", _doc({RID: [ITEM_A]}).replace(f'"{ITEM_A}"', "1")),
    ]


def fingerprint_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = []
    for key_type in ("machine", "runner", "owner-grant"):
        vectors.append(
            {
                "kind": "fingerprint",
                "name": f"fingerprint-{key_type}",
                "description": f"a {key_type} key: bytes 0 to 31",
                "expect": "ok",
                "key_type": key_type,
                "key": KEY.hex(),
                "value": fingerprint(key_type, KEY),
            }
        )
    for name, key_type, key in (
        ("fingerprint-short-key", "runner", KEY[:31]),
        ("fingerprint-long-key", "machine", KEY + b"\0"),
        ("fingerprint-unknown-type", "ssh", KEY),
    ):
        vectors.append(
            {
                "kind": "fingerprint",
                "name": name,
                "description": f"type {key_type}, a {len(key)}-byte key",
                "expect": "bad_key",
                "key_type": key_type,
                "key": key.hex(),
            }
        )
    fp = fingerprint("runner", KEY)
    plain = fp.replace("-", "")
    typed = [
        ("as-shown", "exactly as shown", fp, "ok"),
        ("lower-case", "in lower case", fp.lower(), "ok"),
        (
            "spaces-and-tabs",
            "groups split by spaces and a tab",
            fp.replace("-", " ").replace(" ", "\t", 1),
            "ok",
        ),
        ("no-separators", "24 characters, no separators", plain, "ok"),
        ("odd-separators", "hyphens and spaces anywhere", " -" + "-".join(plain) + " ", "ok"),
        ("underscore", "underscores between groups", fp.replace("-", "_"), "bad_fingerprint"),
        ("no-break-space", "U+00A0 between groups", fp.replace("-", "\u00a0"), "bad_fingerprint"),
        ("newline", "a newline between groups", fp.replace("-", "\n"), "bad_fingerprint"),
        ("en-dash", "U+2013 between groups", fp.replace("-", "\u2013"), "bad_fingerprint"),
        ("full-width", "one letter full-width", "\uff21" + plain[1:], "bad_fingerprint"),
        (
            "dotless-i",
            "U+0131 (its Unicode upper case is I)",
            "\u0131" + plain[1:],
            "bad_fingerprint",
        ),
        (
            "sharp-s",
            "U+00DF (its Unicode upper case is SS)",
            "\u00df" + plain[2:],
            "bad_fingerprint",
        ),
        ("digit-one", "a 1, outside base32", "1" + plain[1:], "bad_fingerprint"),
        ("too-short", "23 characters", plain[:-1], "bad_fingerprint"),
        ("too-long", "25 characters", plain + "A", "bad_fingerprint"),
        ("empty", "nothing", "", "bad_fingerprint"),
    ]
    for name, description, text, expect in typed:
        vector: dict[str, Any] = {
            "kind": "fingerprint_input",
            "name": f"typed-fingerprint-{name}",
            "description": description,
            "expect": expect,
            "text": text,
        }
        if expect == "ok":
            vector["value"] = fp
        vectors.append(vector)
    return vectors


def item_name_vectors() -> list[dict[str, Any]]:
    names = [
        ("pins", ".zkvault-pins", "reserved_name"),
        ("grants", ".zkvault-grants", "reserved_name"),
        ("any-suffix", ".zkvault-anything", "reserved_name"),
        ("prefix-alone", ".zkvault-", "reserved_name"),
        ("leading-space", " .zkvault-pins", "reserved_name"),
        ("trailing-space", ".zkvault-x ", "reserved_name"),
        ("leading-no-break-space", "\u00a0.zkvault-x", "reserved_name"),
        ("leading-ideographic-space", "\u3000.zkvault-x", "reserved_name"),
        ("leading-line-separator", "\u2028.zkvault-x", "reserved_name"),
        ("full-width-stop", "\uff0ezkvault-x", "reserved_name"),
        ("full-width-letters", ".\uff5akvault-x", "reserved_name"),
        ("upper-case", ".ZKVAULT-x", "ok"),
        ("no-hyphen", ".zkvault", "ok"),
        ("inside", "my .zkvault-x", "ok"),
        ("zero-width-space", "\u200b.zkvault-x", "ok"),
        ("ordinary", "github-ci", "ok"),
    ]
    return [
        {
            "kind": "item_name",
            "name": f"item-name-{name}",
            "description": f"an item named {text!r}",
            "expect": expect,
            "item_name": text,
        }
        for name, text, expect in names
    ]


MACHINE = b"vector-machine-id"
STATE_KEY = bytes(range(100, 132))
STATE_PLAIN = b'{"server":"https://vault.example.test"}'


def local_state_vectors() -> list[dict[str, Any]]:
    rng = Stream(b"local-state")
    sealed = seal_state(
        STATE_PLAIN, STATE_KEY, store=b"f", generation=3, machine_id=MACHINE, random_bytes=rng
    )

    def vector(name: str, description: str, data: bytes, expect: str, **kw: Any) -> Any:
        out = {
            "kind": "local_state",
            "name": f"local-state-{name}",
            "description": description,
            "expect": expect,
            "blob": b64(data),
            "key": STATE_KEY.hex(),
            "machine_id": MACHINE.hex(),
            "min_generation": 3,
        }
        out.update(kw)
        return out

    return [
        vector(
            "ok",
            "generation 3, counter 3",
            sealed,
            "ok",
            value={"generation": 3, "plaintext": STATE_PLAIN.hex()},
        ),
        vector(
            "older-counter",
            "generation 3, counter 2",
            sealed,
            "ok",
            min_generation=2,
            value={"generation": 3, "plaintext": STATE_PLAIN.hex()},
        ),
        vector("rollback", "generation 3, counter 4", sealed, "rollback", min_generation=4),
        vector(
            "other-machine",
            "opened with another machine id",
            sealed,
            "state_auth",
            machine_id=b"another machine".hex(),
        ),
        vector("other-key", "opened with another key", sealed, "state_auth", key=bytes(32).hex()),
        vector(
            "flipped-generation",
            "one bit of the generation flipped",
            flip(sealed, 14),
            "state_auth",
        ),
        vector("flipped-store", "the store byte changed", flip(sealed, 6), "state_auth"),
        vector(
            "flipped-ciphertext",
            "one bit of the ciphertext flipped",
            flip(sealed, len(sealed) - 1),
            "state_auth",
        ),
        vector(
            "order-auth-before-rollback",
            "a flipped tag and a counter of 4",
            flip(sealed, len(sealed) - 1),
            "state_auth",
            min_generation=4,
        ),
        vector("bad-magic", "magic ZKVST2", flip(sealed, 5, 0x03), "malformed"),
        vector("truncated-54", "54 bytes: a header and 15 bytes", sealed[:54], "malformed"),
        vector(
            "order-magic-before-auth",
            "magic changed and the ciphertext flipped",
            flip(flip(sealed, 0), len(sealed) - 1),
            "malformed",
        ),
    ]


def json_rule_vectors() -> list[dict[str, Any]]:
    """§6.6 numbers of any length, and §6.1 step 13's order, as vault vectors."""
    _, blob = build_vault(b"main")
    spans = record_spans(blob)
    first = spans[0][0]
    damaged_pins = json.dumps({"v": True, "runners": {}})
    bookkeeping = forge_vault(
        b"damaged-pins",
        [
            ITEMS[0].to_json(),
            canonical_json(
                {
                    "expires": None,
                    "kind": "generic",
                    "name": ".zkvault-pins",
                    "note": "",
                    "scopes": [],
                    "secret": damaged_pins,
                    "url": "",
                    "username": "",
                }
            ),
        ],
    )
    opened = reopen(bookkeeping, PASSPHRASE)
    return [
        vault_vector(
            "item-5000-digit-number",
            "item JSON holding a 5,000-digit integer",
            forge_vault(b"long-number", [b"[" + b"9" * 5000 + b"]"]),
            "non_canonical",
        ),
        vault_vector(
            "item-long-exponent",
            "item JSON holding 1e999999",
            forge_vault(b"long-exponent", [b"[1e999999]"]),
            "non_canonical",
        ),
        vault_vector(
            "order-duplicate-anywhere-before-replay",
            "record 1 replayed (item_rev changed) and record 2 repeated at the end",
            flip(blob, first + 23, 0x02) + blob[spans[1][0] : spans[1][1]],
            "item_duplicated",
        ),
        vault_vector(
            "ok-damaged-pins-record",
            "a .zkvault-pins item that is not its grammar: the vault opens all the same",
            bookkeeping,
            "ok",
            vault=opened,
        ),
    ]


def pin_add_vectors() -> list[dict[str, Any]]:
    """Pinning a newly approved runner (§12.1, "Pinning"): never under an id already
    pinned, whatever key or spelling of the id."""
    good = {RID: {"key": KEY_TEXT, "name": "ci-1 ✓"}}
    other = bytes(range(32, 64))

    def vector(
        name: str, description: str, expect: str, runner_id: str, key: bytes, **ok: Any
    ) -> Any:
        return {
            **_record("pin_add", f"pin-add-{name}", description, _doc(good), expect, **ok),
            "runner_id": runner_id,
            "key": key.hex(),
            "pin_name": "pull requests",
        }

    added = {
        **good,
        RID2: {
            "key": base64.urlsafe_b64encode(other).rstrip(b"=").decode(),
            "name": "pull requests",
        },
    }
    return [
        vector("ok", "a new id: pinned beside the first", "ok", RID2, other, value=_doc(added)),
        vector("taken", "the id of a pinned runner, another key", "id_taken", RID, other),
        vector(
            "taken-same-key", "the id of a pinned runner, its own key again", "id_taken", RID, KEY
        ),
        vector(
            "id-upper-case",
            "a pinned runner's id in upper case: not its one form",
            "pin",
            RID.upper(),
            other,
        ),
        vector("short-key", "a 31-byte key under a new id", "bad_key", RID2, other[:31]),
        vector(
            "order-key-before-taken", "a 31-byte key under a taken id", "bad_key", RID, other[:31]
        ),
        vector("not-an-id", "a runner id that is not a UUID", "pin", "runner-2", other),
        {
            **vector("damaged-record", "a damaged record before pinning", "pin", RID2, other),
            "secret": _doc(good).replace(":", ": ", 1),
        },
    ]
