"""Vectors for the rules a second reader of docs/format.md must get exactly right: which error
wins when several apply (the order of §5, §6.1 and §7), the passphrase's length, item and
grant JSON (§6.6), empty urls, granted item ids and names. Many are forged with the owner's
keys (forge.py): every authentication check passes, so only the rule under test can fail."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.vectors.common import (
    ITEMS,
    OTHER_ACCOUNT,
    PASSPHRASE,
    Stream,
    build_vault,
    flip,
    grant_vector,
    record_spans,
    reopen,
    set_bytes,
    vault_vector,
)
from tests.vectors.forge import WRONG_AD, forge_vault, grant_signed_part, seal, sign
from vault_core import Item, RunnerKeyPair
from vault_core import container as layout
from vault_core.encoding import canonical_json, u32, u64

MANIFEST = layout.HEADER_BYTES  # the first manifest entry's offset
ENTRY = layout.MANIFEST_ENTRY_BYTES


def _item(**changes: Any) -> dict[str, Any]:
    """The first standard item as a JSON object, with fields changed."""
    data = json.loads(ITEMS[0].to_json())
    data.update(changes)
    return dict(data)


def _json(obj: Any) -> bytes:
    return canonical_json(obj)


def passphrase_vectors() -> list[dict[str, Any]]:
    _, blob = build_vault(b"main")
    return [
        vault_vector(
            "passphrase-empty", "an empty passphrase", blob, "limit_exceeded", passphrase=""
        ),
        vault_vector(
            "passphrase-4097-bytes",
            "a passphrase one byte over 4,096 (UTF-8, after NFC)",
            blob,
            "limit_exceeded",
            passphrase="é" * 2048 + "x",
        ),
        vault_vector(
            "passphrase-4096-bytes",
            "a 4,096-byte passphrase is accepted and derived: it is just wrong",
            blob,
            "wrong_passphrase",
            passphrase="é" * 2048,
        ),
        vault_vector(
            "order-wrong-account-before-passphrase-length",
            "another account and an empty passphrase: step 9 before step 10",
            blob,
            "wrong_account",
            account=OTHER_ACCOUNT,
            passphrase="",
        ),
        vault_vector(
            "order-rollback-before-wrong-passphrase",
            "revision 1 after revision 2 was seen, and a wrong passphrase",
            blob,
            "rollback",
            passphrase=PASSPHRASE + "!",
            min_revision=2,
        ),
    ]


def order_vectors() -> list[dict[str, Any]]:
    main, blob = build_vault(b"main")
    _, other_account = build_vault(b"other-account", account=OTHER_ACCOUNT)
    _, other_vault = build_vault(b"other-vault")
    spans = record_spans(blob)
    first_id, second_id = MANIFEST, MANIFEST + ENTRY
    repeated_id = set_bytes(blob, second_id, blob[first_id : first_id + 16])
    last = spans[-1][0]
    dropped_third = blob[: spans[2][0]]
    noncanonical = json.dumps(json.loads(ITEMS[0].to_json()), sort_keys=True).encode()
    valid = ITEMS[1].to_json()
    unhashed = forge_vault(b"order-14", [noncanonical, valid])
    second_record = record_spans(unhashed)[1][0]

    def vector(name: str, description: str, data: bytes, expect: str, **kw: Any) -> Any:
        return vault_vector(name, description, data, expect, **kw)

    return [
        vector(
            "order-kdf-id-before-ceiling",
            "kdf_id 2 and kdf_ops 17",
            set_bytes(set_bytes(blob, 46, b"\x02"), 47, u32(17)),
            "unsupported_version",
        ),
        vector(
            "order-kdf-ceiling-before-floor",
            "kdf_ops 17 (above the ceiling) and kdf_mem_kib 1,024 (below the floor)",
            set_bytes(set_bytes(blob, 47, u32(17)), 51, u32(1024)),
            "limit_exceeded",
        ),
        vector(
            "order-item-count-before-revision",
            "item_count 1,001 and revision 0",
            set_bytes(set_bytes(blob, 143, u32(1001)), 38, u64(0)),
            "limit_exceeded",
        ),
        vector(
            "order-manifest-earlier-entry-first",
            "entry 1 has item_rev 0, entry 2 repeats entry 1's id",
            set_bytes(repeated_id, first_id + 16, u64(0)),
            "malformed",
        ),
        vector(
            "order-manifest-id-before-item-rev",
            "entry 2 repeats entry 1's id and has item_rev 0",
            set_bytes(repeated_id, second_id + 16, u64(0)),
            "non_canonical",
        ),
        vector(
            "order-record-length-limit-before-shortness",
            "the last record's ct_len is 40,000, far more than the bytes left",
            set_bytes(blob, last + 48, u32(40_000)),
            "limit_exceeded",
        ),
        vector(
            "record-length-16",
            "the first record's ct_len is 16 (a tag and no ciphertext)",
            set_bytes(blob, spans[0][0] + 48, u32(16)),
            "malformed",
        ),
        vector(
            "order-wrong-account-before-wrong-vault",
            "another account's vault, another vault id pinned",
            other_account,
            "wrong_account",
            vault_id=main.vault_id,
        ),
        vector(
            "order-wrong-vault-before-rollback",
            "another vault of this account, pinned id differs, revision below the floor",
            other_vault,
            "wrong_vault",
            vault_id=main.vault_id,
            min_revision=2,
        ),
        vector(
            "order-header-auth-before-records",
            "the third record dropped and a manifest hash flipped",
            flip(dropped_third, MANIFEST + 30),
            "header_auth",
        ),
        vector(
            "order-duplicated-before-missing",
            "the third record replaced by a copy of the first",
            dropped_third + blob[spans[0][0] : spans[0][1]],
            "item_duplicated",
        ),
        vector(
            "order-missing-before-record-order",
            "the third record dropped and the first two swapped",
            blob[: spans[0][0]] + blob[spans[1][0] : spans[1][1]] + blob[spans[0][0] : spans[0][1]],
            "item_missing",
        ),
        vector(
            "order-hashes-before-contents",
            "record 1 is authentic non-canonical JSON, record 2's ciphertext was altered",
            flip(unhashed, second_record + 60),
            "body_auth",
        ),
        vector(
            "order-record-by-record-invalid-first",
            "record 1 holds an invalid item, record 2 does not decrypt",
            forge_vault(b"order-15a", [_json(_item(name="")), WRONG_AD]),
            "invalid_item",
        ),
        vector(
            "order-record-by-record-decrypt-first",
            "record 1 does not decrypt, record 2 is non-canonical",
            forge_vault(b"order-15b", [WRONG_AD, noncanonical]),
            "body_auth",
        ),
        vector(
            "order-non-canonical-before-invalid",
            "one item whose JSON has spaces and an empty name",
            forge_vault(b"order-15c", [b'{"name": ""}']),
            "non_canonical",
        ),
    ]


def item_vectors() -> list[dict[str, Any]]:
    """§6.6, one record forged with the vault key for each rule."""
    cases: list[tuple[str, str, list[bytes | None], str]] = [
        ("item-not-utf8", "item JSON with a byte that is not UTF-8", [b'"\xff"'], "malformed"),
        ("item-not-json", "item plaintext that is not JSON", [b"{name"], "malformed"),
        ("item-nan", "item JSON holding NaN", [b"[NaN]"], "malformed"),
        ("item-lone-surrogate", "a string with a lone surrogate", [b'"\\ud800"'], "malformed"),
        ("item-raw-control", "a raw U+0001 inside a string", [b'"a\x01b"'], "malformed"),
        (
            "item-bom",
            "item JSON after a byte-order mark",
            [b"\xef\xbb\xbf" + _json(_item())],
            "malformed",
        ),
        ("item-too-deep", "arrays nested 17 deep", [b"[" * 17 + b"]" * 17], "malformed"),
        (
            "item-deep-number",
            "a number nested 17 deep",
            [b"[" * 17 + b"1" + b"]" * 17],
            "malformed",
        ),
        (
            "item-16-deep",
            "arrays nested 16 deep: JSON, but not an item",
            [b"[" * 16 + b"]" * 16],
            "invalid_item",
        ),
        ("item-year-0", "expires 0000-01-01", [_json(_item(expires="0000-01-01"))], "invalid_item"),
        ("item-number", "expires as a number", [_json(_item(expires=20270131))], "non_canonical"),
        ("item-boolean", "a scope that is true", [_json(_item(scopes=[True]))], "non_canonical"),
        (
            "item-repeated-key",
            "the key name twice",
            [b'{"name":"a",' + _json(_item())[1:]],
            "non_canonical",
        ),
        (
            "item-missing-field",
            "no note",
            [_json({k: v for k, v in _item().items() if k != "note"})],
            "invalid_item",
        ),
        ("item-extra-field", "a field id", [_json(_item(id="x"))], "invalid_item"),
        ("item-empty-name", "an empty name", [_json(_item(name=""))], "invalid_item"),
        ("item-control-in-name", "a tab in the name", [_json(_item(name="a\tb"))], "invalid_item"),
        (
            "item-bad-date",
            "expires 2027-02-30",
            [_json(_item(expires="2027-02-30"))],
            "invalid_item",
        ),
        ("item-unknown-kind", "kind svn", [_json(_item(kind="svn"))], "invalid_item"),
        (
            "item-git-empty-url",
            "kind git with an empty url",
            [_json(_item(kind="git", url=""))],
            "invalid_item",
        ),
        (
            "item-github-enterprise-empty-url",
            "kind github-enterprise with an empty url",
            [_json(_item(kind="github-enterprise", url=""))],
            "invalid_item",
        ),
        (
            "item-duplicate-names",
            "two items named alike",
            [_json(_item()), _json(_item(secret="another"))],
            "invalid_item",
        ),
    ]
    vectors = [
        vault_vector(name, description, forge_vault(name.encode(), texts), expect)
        for name, description, texts, expect in cases
    ]
    provider_items = [
        Item(name=f"{kind} default host", kind=kind, url="", secret=f"{kind}-token")
        for kind in ("github", "gitlab", "bitbucket", "generic")
    ]
    _, blob = build_vault(b"empty-urls", items=provider_items)
    vectors.append(
        vault_vector(
            "ok-empty-url-provider-kinds",
            "empty urls for github, gitlab, bitbucket (the default host) and generic",
            blob,
            "ok",
            vault=reopen(blob, PASSPHRASE),
        )
    )
    return vectors


def _entry(item_id: int, **changes: Any) -> dict[str, Any]:
    return {**_item(**changes), "id": uuid.UUID(int=item_id).hex}


def grant_rule_vectors() -> list[dict[str, Any]]:
    """§7 steps 3-7, each payload signed by the owner's grant key unless it says otherwise."""
    vault, _ = build_vault(b"main")
    other, _ = build_vault(b"other-vault")
    runner = RunnerKeyPair(bytes(range(32)))
    rng = Stream(b"grant-rules")
    key = runner.public_key
    good_body = _json({"items": [_entry(1), _entry(2, name="second")]})

    def signed_by(owner: Any, body: bytes = good_body, **fields: Any) -> bytes:
        part = grant_signed_part(body, fields.pop("runner_public_key", key), **fields)
        return part + sign(owner, part)

    def vector(name: str, description: str, payload: bytes, expect: str, **kw: Any) -> Any:
        return grant_vector(vault, runner, name, description, seal(key, payload, rng), expect, **kw)

    def body(name: str, description: str, data: Any, expect: str) -> Any:
        raw = data if isinstance(data, bytes) else _json(data)
        return vector(name, description, signed_by(vault, raw), expect)

    full = signed_by(vault)
    vectors = [
        vector(
            "grant-ok-empty",
            "a grant of no items at revision 5",
            signed_by(vault, _json({"items": []})),
            "ok",
            revision=5,
            items=[],
        ),
        vector(
            "grant-order-magic-before-version",
            "magic ZKGX and version 2",
            signed_by(vault, magic=b"ZKGX", version=2),
            "malformed",
        ),
        vector(
            "grant-order-version-before-length",
            "version 2 and only 100 bytes",
            signed_by(vault, version=2)[:100],
            "unsupported_version",
        ),
        vector("grant-short-payload", "only 100 bytes", full[:100], "malformed"),
        vector("grant-trailing-byte", "one byte after the signature", full + b"\0", "malformed"),
        vector(
            "grant-body-length-beyond-end",
            "body_len larger than the bytes that follow",
            set_bytes(full, 78, u32(len(good_body) + 65)),
            "malformed",
        ),
        vector(
            "grant-order-revision-before-binding",
            "grant_revision 0 and another runner id",
            signed_by(vault, revision=0, runner_id=uuid.UUID(int=7)),
            "malformed",
        ),
        vector(
            "grant-revision-2-63",
            "grant_revision 2^63",
            signed_by(vault, revision=2**63),
            "malformed",
        ),
        vector(
            "grant-other-runner-key-field",
            "sealed to this runner, but runner_public_key names another key",
            signed_by(vault, runner_public_key=bytes(32)),
            "grant_binding",
        ),
        vector(
            "grant-order-binding-before-signature",
            "another account, and signed by another vault's grant key",
            signed_by(other, account=OTHER_ACCOUNT),
            "grant_binding",
        ),
        vector(
            "grant-order-signature-before-rollback",
            "signed by another vault's grant key, revision 4 after 5 was seen",
            signed_by(other, revision=4),
            "grant_auth",
            min_revision=5,
        ),
        vector(
            "grant-order-rollback-before-body",
            "revision 4 after 5 was seen, and a body that is not JSON",
            signed_by(vault, b"{items", revision=4),
            "rollback",
            min_revision=5,
        ),
        body("grant-body-not-json", "a body that is not JSON", b"{items", "malformed"),
        body("grant-body-non-canonical", "a body with a space", b'{"items": []}', "non_canonical"),
        body("grant-body-number", "a body with a number", {"items": [], "n": 1}, "non_canonical"),
        body("grant-body-shape", "a body without items", {"things": []}, "invalid_item"),
        body(
            "grant-body-too-many-items",
            "1,001 elements (all null)",
            {"items": [None] * 1001},
            "limit_exceeded",
        ),
        body(
            "grant-item-not-object", "an element that is a string", {"items": ["x"]}, "invalid_item"
        ),
        body(
            "grant-item-id-missing",
            "an element without id",
            {"items": [_item()]},
            "invalid_item",
        ),
        body(
            "grant-item-id-uppercase",
            "an id in uppercase hex",
            {"items": [{**_item(), "id": "0" * 31 + "A"}]},
            "invalid_item",
        ),
        body(
            "grant-item-id-dashes",
            "an id in the dashed UUID form",
            {"items": [{**_item(), "id": str(uuid.UUID(int=1))}]},
            "invalid_item",
        ),
        body(
            "grant-items-unsorted",
            "ids in descending order",
            {"items": [_entry(2), _entry(1, name="second")]},
            "non_canonical",
        ),
        body(
            "grant-items-repeated-id",
            "one id twice",
            {"items": [_entry(1), _entry(1, name="second")]},
            "non_canonical",
        ),
        body(
            "grant-order-id-form-before-order",
            "element 2's id is uppercase and smaller than element 1's",
            {"items": [_entry(2), {**_item(name="second"), "id": "0" * 31 + "A"}]},
            "invalid_item",
        ),
        body(
            "grant-order-id-order-before-fields",
            "element 2 is out of order and has an empty name",
            {"items": [_entry(2), _entry(1, name="")]},
            "non_canonical",
        ),
        body(
            "grant-order-earlier-element-first",
            "element 1 has an empty name, element 2 is out of order",
            {"items": [_entry(2, name=""), _entry(1, name="second")]},
            "invalid_item",
        ),
        body(
            "grant-duplicate-names",
            "two granted items named alike",
            {"items": [_entry(1), _entry(2)]},
            "invalid_item",
        ),
        body(
            "grant-git-empty-url",
            "a granted git item with an empty url",
            {"items": [_entry(1, kind="git", url="")]},
            "invalid_item",
        ),
    ]
    return vectors
