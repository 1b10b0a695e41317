"""A team of N members and M items for benchmarks/teams.py, made once and written to a
directory that every runtime (this checkout, a baseline checkout, Pyodide) reads.

    team.json   {"entries": [hex...], "blob": hex, "owner_seed": hex, "owner_account": hex,
                 "remove": account hex, "newcomers": [{"seed", "account", "email"}...],
                 "people": [{"bundle": hex, "account", "email"}...] (the members but the owner)}

Everything here uses only vault_core's public builders (ops, TeamVault), so an older
vault_core reads the same files: the before/after columns open identical bytes.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from vault_core import Item
from vault_core.teams import IdentityKeys, TeamVault, apply, parse_entry
from vault_core.teams.ops import add_entry, create_entry

AT = 1_800_000_000  # a fixed clock: the same team bytes from run to run, bar the randomness
KINDS = ("github", "gitlab", "bitbucket", "generic")


def _item(i: int) -> Item:
    kind = KINDS[i % len(KINDS)]
    return Item(
        name=f"token-{i:04d}",
        kind=kind,
        url="",
        secret=f"ghp_{i:04d}" + "x" * 36,
        username=f"ci-bot-{i % 17}",
        scopes=("repo", "read:org") if i % 3 else (),
        expires="2027-06-30" if i % 5 == 0 else None,
        note=f"rotated by the platform team; item {i}",
    )


def build(out: Path, members: int, items: int, newcomers: int) -> dict[str, Any]:
    owner = IdentityKeys.generate(uuid.uuid4())
    entry, team_key = create_entry(owner, "owner@example.com", "Platform", at=AT)
    entries = [entry]
    state = apply(None, parse_entry(entry))
    roles = ("reader", "writer", "admin")
    member_ids = []
    people = []  # the owner's contacts: everyone they added (format.md §15.5)
    for n in range(1, members):
        person = IdentityKeys.generate(uuid.uuid4())
        email = f"member{n:03d}@example.com"
        people.append(
            {"bundle": person.bundle().hex(), "account": person.account_id.hex, "email": email}
        )
        raw = add_entry(
            owner,
            state,
            person.identity(),
            email,
            roles[n % len(roles)],
            "fingerprint",
            team_key,
            at=AT + n,
        )
        state = apply(state, parse_entry(raw))
        entries.append(raw)
        member_ids.append(person.account_id.hex)
    vault = TeamVault(uuid.UUID(hex=state.team_id), team_key, state.epoch)
    for i in range(items):
        vault.add(_item(i))
    blob = vault.save(owner, state)
    data = {
        "entries": [e.hex() for e in entries],
        "blob": blob.hex(),
        "owner_seed": owner.seed_bytes().hex(),
        "owner_account": owner.account_id.hex,
        "remove": member_ids[len(member_ids) // 2],
        "newcomers": [
            {
                "seed": IdentityKeys.generate(account).seed_bytes().hex(),
                "account": account.hex,
                "email": f"new{k:03d}@example.com",
            }
            for k, account in enumerate(uuid.uuid4() for _ in range(newcomers))
        ],
        "people": people,
        "members": members,
        "items": items,
        "entry_bytes": sum(len(e) for e in entries),
        "blob_bytes": len(blob),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "team.json").write_text(json.dumps(data))
    return data


if __name__ == "__main__":
    import sys

    build(Path(sys.argv[1]), 200, 1000, 20)
