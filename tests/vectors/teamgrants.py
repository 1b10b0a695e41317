"""Vectors for runner grants of team items (format.md §15.8): the team's admin grants one of
their runners two items; the runner opens the grant and checks it against the team's log.
Every key derives from fixed seeds and every draw from a seeded stream."""

from __future__ import annotations

import uuid
from typing import Any

from tests.vectors.common import Stream, create
from tests.vectors.teams import ADMIN, AT, ITEMS, OWNER, _Log, b64
from vault_core import RunnerKeyPair, Vault, seal_team_grant
from vault_core.teams import TeamState, remove_entry, role_entry

RUNNER_ID = uuid.UUID(int=0x12)
ITEM_IDS = [uuid.UUID(int=0x1D0 + n) for n in range(len(ITEMS))]


def _vector(
    name: str,
    description: str,
    blob: bytes,
    entries: list[bytes],
    expect: str,
    *,
    grantor: Vault,
    runner: RunnerKeyPair,
    team_id: uuid.UUID,
    min_revision: int = 0,
    value: Any = None,
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "kind": "team_grant",
        "name": name,
        "description": description,
        "expect": expect,
        "blob": b64(blob),
        "runner_seed": runner.seed_bytes().hex(),
        "account_id": grantor.account_id.hex,
        "runner_id": RUNNER_ID.hex,
        "team_id": team_id.hex,
        "owner_verify_key": grantor.owner_verify_key.hex(),
        "min_revision": min_revision,
        "entries": [b64(e) for e in entries],
    }
    if expect == "ok":
        vector["value"] = value
    return vector


def team_grant_vectors() -> list[dict[str, Any]]:
    log = _Log(Stream(b"team grant log"))
    other_history = _Log(Stream(b"team grant other history"))
    stream = Stream(b"team grants")
    admin_vault = create(ADMIN.account_id, stream=Stream(b"team grant admin vault"))
    stranger_vault = create(ADMIN.account_id, stream=Stream(b"team grant other vault"))
    runner = RunnerKeyPair(bytes(range(2, 34)))
    team_id = uuid.UUID(hex=log.state.team_id)
    items = dict(zip(ITEM_IDS, ITEMS, strict=True))

    def seal(state: TeamState, revision: int = 3, vault: Vault = admin_vault) -> bytes:
        return seal_team_grant(
            vault=vault,
            state=state,
            runner_id=RUNNER_ID,
            runner_public_key=runner.public_key,
            items=items,
            revision=revision,
            random_bytes=stream,
        )

    grant = seal(log.state)
    removed, _ = remove_entry(
        OWNER, log.state, ADMIN.account_id.hex, at=AT, random_bytes=log.stream
    )
    demoted = role_entry(OWNER, log.state, ADMIN.account_id.hex, "writer", at=AT)
    state = log.state

    def vector(name: str, description: str, blob: bytes, expect: str, **kw: Any) -> dict[str, Any]:
        kw.setdefault("team_id", team_id)
        entries = kw.pop("entries", log.entries)
        return _vector(
            name, description, blob, entries, expect, grantor=admin_vault, runner=runner, **kw
        )

    value = {
        "revision": 3,
        "epoch": str(state.epoch),
        "log_seq": str(state.seq),
        "log_head": state.head.hex(),
        "grantor_sign_key": ADMIN.sign_key.hex(),
        "items": [{**item_dict, "id": i.hex} for i, item_dict in _item_dicts(items)],
    }
    return [
        vector(
            "team-grant-ok",
            "the admin grants two items at revision 3, at log seq 4",
            grant,
            "ok",
            value=value,
        ),
        vector(
            "team-grant-ok-after-later-entries",
            "the log went on after the grant (the admin still an admin)",
            grant,
            "ok",
            entries=[*log.entries, role_entry(OWNER, state, _reader(state), "writer", at=AT)],
            value=value,
        ),
        vector(
            "team-grant-other-team",
            "the server labels the grant with another team's id",
            grant,
            "grant_binding",
            team_id=uuid.UUID(int=0x7EB),
        ),
        vector(
            "team-grant-forged",
            "signed by another vault's grant key for the same account",
            seal(state, vault=stranger_vault),
            "grant_auth",
        ),
        vector(
            "team-grant-rollback",
            "revision 3 after revision 4 was seen",
            grant,
            "rollback",
            min_revision=4,
        ),
        vector(
            "team-grant-grantor-removed",
            "the owner removed the grantor after the grant",
            grant,
            "team_permission",
            entries=[*log.entries, removed],
        ),
        vector(
            "team-grant-grantor-demoted",
            "the owner made the grantor a writer after the grant",
            grant,
            "team_permission",
            entries=[*log.entries, demoted],
        ),
        vector(
            "team-grant-log-too-short",
            "the log shown ends before the entry the grant was made at",
            grant,
            "team_log_gap",
            entries=log.entries[:-1],
        ),
        vector(
            "team-grant-other-history",
            "made at seq 4 of another history of the same team",
            seal(other_history.state),
            "team_log_fork",
        ),
        vector(
            "team-grant-flipped",
            "one bit of the sealed box flipped",
            grant[:50] + bytes([grant[50] ^ 1]) + grant[51:],
            "grant_auth",
        ),
    ]


def _reader(state: TeamState) -> str:
    return next(a for a, m in state.members.items() if m.role == "reader")


def _item_dicts(items: dict[uuid.UUID, Any]) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    import json

    return [(i, json.loads(items[i].to_json())) for i in sorted(items, key=lambda i: i.bytes)]
