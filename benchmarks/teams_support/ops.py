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
from vault_core.kdf import KdfParams
from vault_core.teams import IdentityKeys
from vault_core.teams.session import TeamSession

OPS = ("open_fresh", "open_remembered", "add", "remove")
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
        # The admin's personal vault pins everyone they add (format.md §15.5); newcomers are
        # pinned here, untimed, as a person does before inviting.
        self.personal = Vault.create(self.keys.account_id, PASSPHRASE, kdf=KdfParams.floor())
        self.newcomers = []
        for person in data["newcomers"]:
            keys = IdentityKeys(uuid.UUID(hex=person["account"]), bytes.fromhex(person["seed"]))
            self.personal.pin_contact(
                keys.bundle(), keys.account_id, person["email"], safety_number=keys.safety_number
            )
            self.newcomers.append((keys, person["email"]))
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

    def _add(self) -> Callable[[], object]:
        keys, email = self.newcomers[self.added % len(self.newcomers)]
        if self.added and self.added % len(self.newcomers) == 0:
            self.session = self._open(True)  # every newcomer is in: start again from the team
        self.added += 1
        return lambda: self.session.add_member(
            self.personal, keys.bundle(), keys.account_id, email, "reader"
        )

    def _remove(self) -> Callable[[], object]:
        fresh = self._open(True)  # untimed: the admin's team is open before they remove
        return lambda: fresh.remove_member(self.remove_account)

    def once(self, op: str) -> dict[str, Any]:
        if op == "open_fresh":
            run: Callable[[], object] = lambda: self._open(False)  # noqa: E731
        elif op == "open_remembered":
            run = lambda: self._open(True)  # noqa: E731
        elif op == "add":
            run = self._add()
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
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(bench.once(line.strip())), flush=True)


if __name__ == "__main__":
    serve_stdio()
