"""The timed team operations of benchmarks/teams.py, in whichever runtime imports this
module: CPython with this checkout's vault_core or a baseline's, or Pyodide in Chromium.
Only vault_core's public API, so a baseline checkout runs the very same code.

    bench = TeamBench(json_text)       # untimed set-up: unlock keys, pin contacts, open once
    bench.once("open_remembered")      # -> {"ms": wall, "cpu": this thread's CPU (or null)}
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from vault_core import Vault
from vault_core.errors import VaultError
from vault_core.kdf import KdfParams
from vault_core.teams import IdentityKeys, parse_identity
from vault_core.teams.session import TeamSession

OPS = ("open_fresh", "open_remembered", "add", "add_unlocked", "remove")
PASSPHRASE = "benchmark passphrase, not a secret"


def _cpu() -> float | None:
    try:
        return time.thread_time()
    except (AttributeError, OSError):  # Pyodide has no per-thread clock
        return None


class TeamBench:
    def __init__(self, text: str) -> None:
        data = json.loads(text)
        self.entries = [bytes.fromhex(e) for e in data["entries"]]
        self.blob = bytes.fromhex(data["blob"])
        self.keys = IdentityKeys(
            uuid.UUID(hex=data["owner_account"]), bytes.fromhex(data["owner_seed"])
        )
        self.remove_account: str = data["remove"]
        # The admin's personal vault pins everyone they add (format.md §15.5): the newcomers,
        # and every member of the team, pinned here the real way, untimed, as a person did
        # before inviting each. A vault_core whose contacts fit one item only (a baseline
        # before shards) pins as many members as it can: ``contacts`` says how many.
        self.personal = Vault.create(self.keys.account_id, PASSPHRASE, kdf=KdfParams.floor())
        self.newcomers = []
        for person in data["newcomers"]:
            keys = IdentityKeys(uuid.UUID(hex=person["account"]), bytes.fromhex(person["seed"]))
            self.personal.pin_contact(
                keys.bundle(), keys.account_id, person["email"], safety_number=keys.safety_number
            )
            self.newcomers.append((keys, person["email"]))
        self.capped = False
        for person in data.get("people", []):
            bundle = bytes.fromhex(person["bundle"])
            number = parse_identity(bundle).safety_number  # as compared with the person
            try:
                self.personal.pin_contact(
                    bundle, uuid.UUID(hex=person["account"]), person["email"], safety_number=number
                )
            except VaultError as error:
                if error.code != "limit_exceeded":
                    raise
                self.capped = True
                break
        self.contacts = len(self.personal.contacts().contacts)
        self.personal_blob = self.personal.save()
        self.session = TeamSession.open(self.keys, self.entries, self.blob)
        self.memory = self.session.memory
        self.added = 0

    def _open(self, remembered: bool) -> TeamSession:
        # A remembered head is the native agent's (sealed local state): its prefix is pinned.
        return TeamSession.open(
            self.keys,
            self.entries,
            self.blob,
            self.memory if remembered else None,
            sealed_memory=remembered,
        )

    def _add(self, personal: Vault) -> Callable[[], object]:
        keys, email = self.newcomers[self.added % len(self.newcomers)]
        if self.added and self.added % len(self.newcomers) == 0:
            self.session = self._open(True)  # every newcomer is in: start again from the team
        self.added += 1
        return lambda: self.session.add_member(
            personal, keys.bundle(), keys.account_id, email, "reader"
        )

    def _unlocked(self) -> Vault:
        """The personal vault just opened (untimed): its contacts not yet read, as for the
        first add after an unlock."""
        return Vault.open(self.personal_blob, PASSPHRASE, account_id=self.keys.account_id)

    def _remove(self) -> Callable[[], object]:
        fresh = self._open(True)  # untimed: the admin's team is open before they remove
        return lambda: fresh.remove_member(self.remove_account)

    def once(self, op: str) -> dict[str, Any]:
        if op == "contacts":  # not timed: what the set-up pinned
            return {"contacts": self.contacts, "capped": self.capped}
        if op == "open_fresh":
            run: Callable[[], object] = lambda: self._open(False)  # noqa: E731
        elif op == "open_remembered":
            run = lambda: self._open(True)  # noqa: E731
        elif op == "add":
            run = self._add(self.personal)
        elif op == "add_unlocked":
            run = self._add(self._unlocked())
        elif op == "remove":
            run = self._remove()
        else:
            raise ValueError(op)
        cpu, wall = _cpu(), time.perf_counter()
        run()
        wall = (time.perf_counter() - wall) * 1000
        end = _cpu()
        return {"ms": wall, "cpu": None if cpu is None or end is None else (end - cpu) * 1000}


def serve_stdio() -> None:
    """Worker mode for teams.py: team.json's path on the first line, then one op per line;
    one JSON line out for each."""
    import sys

    bench = TeamBench(open(sys.stdin.readline().strip()).read())  # noqa: SIM115
    print(
        json.dumps({"ready": True, "contacts": bench.contacts, "capped": bench.capped}), flush=True
    )
    for line in sys.stdin:
        print(json.dumps(bench.once(line.strip())), flush=True)


if __name__ == "__main__":
    serve_stdio()
