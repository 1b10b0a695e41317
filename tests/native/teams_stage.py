"""Three (or more) people with their own laptops, each running the real CLI and agent
against the real server (behind the proxy of tests/hostile, which tells lies only when a
test asks it to): what the teams tests share."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.hostile.stage import Person, Stage, open_stage, pair_laptop, person_with_vault
from tests.native.support import Env, stop_agent
from tests.support.processes import start_idp, stop


@dataclass
class Member:
    """A person and their laptop (paired, unlocked, confirmed)."""

    person: Person
    env: Env

    @property
    def email(self) -> str:
        return f"{self.person.sub}@example.test"

    def zk(self, *args: str, input: str | None = None) -> Any:
        return self.env.zk(*args, input=input, timeout=120)

    def ok(self, *args: str, input: str | None = None) -> dict[str, Any]:
        """``zkvault ARGS --json``, which must succeed: its JSON answer."""
        done = self.zk(*args, "--json", input=input)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return answer

    def fails(self, *args: str, input: str | None = None) -> tuple[int, str]:
        """``zkvault ARGS --json``, which must fail: (exit status, error code)."""
        done = self.zk(*args, "--json", input=input)
        assert done.returncode != 0, (args, done.stdout)
        return done.returncode, str(json.loads(done.stdout.strip().splitlines()[-1])["error"])

    def unlock(self) -> None:
        done = self.env.unlock("--confirm", passphrase=self.person.passphrase)
        assert done.returncode == 0, done.stderr

    def restart(self) -> None:
        """Lock and unlock: a new agent, with only what the sealed state remembers."""
        self.env.zk("lock", check=True)
        self.unlock()


@contextmanager
def team_stage() -> Iterator[Stage]:
    idp, idp_proc = start_idp()
    workdir = Path(tempfile.mkdtemp(prefix="zkv-teams-"))
    stage = open_stage(idp, workdir)
    try:
        yield stage
    finally:
        stage.proxy.close()
        stop(stage.server.proc)
        stop(idp_proc)
        shutil.rmtree(workdir, ignore_errors=True)


def member(stage: Stage, label: str) -> Member:
    person, _ = person_with_vault(stage, label)
    someone = Member(person, pair_laptop(stage, person))
    someone.unlock()
    return someone


def leave_all(members: list[Member]) -> None:
    for someone in members:
        stop_agent(someone.env)


def add_item(someone: Member, name: str, secret: str, *flags: str) -> dict[str, Any]:
    return someone.ok("add", name, "--kind", "generic", "--secret-stdin", *flags, input=secret)
