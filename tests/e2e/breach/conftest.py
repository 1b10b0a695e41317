"""One world per database engine: the IdP, the server (log level debug) on SQLite or on a
private PostgreSQL cluster (so its whole data directory can be taken), a recording proxy
in front of it for the CLI, and two people who have used zkvault for a while."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Playwright

from tests.e2e.breach import scenario
from tests.e2e.breach.attacker import Attacker
from tests.e2e.breach.scenario import Credential, Person
from tests.native.support import make_env, stop_agent
from tests.support.httpproxy import HttpProxy
from tests.support.pg import PrivatePostgres
from tests.support.processes import ServerProcess, free_port, start_server, stop


@dataclass
class World:
    backend: str
    root: Path
    server: ServerProcess
    proxy: HttpProxy
    attacker: Attacker
    pg: PrivatePostgres | None
    pw: Playwright
    idp: str
    people: dict[str, Person] = field(default_factory=dict)
    blobs: list[bytes] = field(default_factory=list)  # every vault state along the way
    # The attacker's earlier dump of the grants table (before the owner re-granted).
    earlier_grants: dict[uuid.UUID, tuple[int, bytes]] = field(default_factory=dict)
    team: str = ""  # the team both used (named by alice), and its id
    team_id: uuid.UUID = scenario.UNKNOWN
    team_seconds: float = 0.0  # what the team phase added to the scenario

    def browser(self, person: Person) -> Person:
        """The person's browser, reopened on the same profile if the dump closed it."""
        if not person.browser_open:
            scenario.reopen_browser(person, self.pw, self.server, self.idp)
        return person

    def snapshot(self) -> None:
        for person in self.people.values():
            self.blobs += self.attacker.history(person.account_id).values()


def live(world: World) -> None:
    """Weeks of use, compressed: the order matters only where a step needs an earlier one."""
    for label, kinds in (
        (
            "alice",
            [
                ("github", "ghp_", "github"),
                ("gitlab", "glpat-", "gitlab"),
                ("bitbucket", "ATBB", "bitbucket"),
                ("git", "", "git"),
            ],
        ),
        ("bob", [("github", "ghp_", "github"), ("generic", "npm_", "registry")]),
    ):
        app, profile, har = scenario.open_browser(
            world.pw, world.root, label, world.server, world.idp
        )
        person = Person(
            label,
            f"{label}-{uuid.uuid4().hex[:8]}",
            [scenario.fresh_passphrase()],
            app,
            profile,
            har,
            make_env(),
        )
        world.people[label] = person
        app.open("/")
        app.sign_in(person.sub, name=label.title())
        app.wait_engine()
        app.create_vault(person.passphrase)
        person.account_id = world.attacker.account_of(person.sub)
        for kind, prefix, host in kinds:
            scenario.add(person, Credential.fresh(kind, prefix, host))
        scenario.reveal(person, next(iter(person.items)))
        scenario.pair_laptop(person, world.proxy, by_link=label == "bob")
        scenario.unlock_laptop(person)

    alice, bob = world.people["alice"], world.people["bob"]
    names = {p.label: list(p.items) for p in (alice, bob)}
    for person, runner_name, granted in (
        (alice, "ci-1", names["alice"][:2]),
        (alice, "ci-2", names["alice"][2:3]),
        (bob, "ci-b", names["bob"][:1]),
    ):
        runner = scenario.enrol_runner(person, world.proxy, runner_name)
        runner.runner_id = world.attacker.runner_of(person.account_id, runner_name)
        scenario.grant(person, runner, granted)
        scenario.check_runner(person, runner)
    world.earlier_grants = world.attacker.grants()
    world.snapshot()

    scenario.rotate(alice, names["alice"][0])  # granted to ci-1: its grant is resealed
    scenario.remove(alice, names["alice"][3])
    scenario.check_runner(alice, alice.runners["ci-1"])
    world.snapshot()
    teams_in_use(world)
    for person in (alice, bob):
        scenario.change_passphrase(person)
    scenario.add(alice, Credential.fresh("gitlab", "glpat-", "gitlab-ci"))
    scenario.rotate(bob, names["bob"][0])
    world.snapshot()
    for person in (alice, bob):
        scenario.unlock_laptop(person)  # the new passphrase; the laptops see the latest
        for runner in person.runners.values():
            scenario.check_runner(person, runner)
    scenario.team_reads(alice, world.team, alice.team_items + bob.team_items)


def teams_in_use(world: World) -> None:
    """Alice makes a team and adds Bob (a writer) once they compared safety numbers; both
    write team items from their laptops and read each other's; then Bob is removed (a new
    team key, the team vault encrypted again) and Alice writes one more."""
    started = time.perf_counter()
    alice, bob = world.people["alice"], world.people["bob"]
    world.team = f"ops-{secrets.token_hex(3)}"
    made = scenario.zk_ok(alice, "team", "create", world.team)
    world.team_id = uuid.UUID(hex=made["team_id"])
    scenario.team_join(alice, world.team, bob, "writer")
    for person, kind, prefix, host in (
        (alice, "github", "ghp_", "github-team"),
        (alice, "gitlab", "glpat-", "gitlab-team"),
        (bob, "generic", "npm_", "registry-team"),
    ):
        scenario.team_add(person, world.team, Credential.fresh(kind, prefix, host))
    scenario.team_reads(bob, world.team, alice.team_items)
    scenario.team_reads(alice, world.team, bob.team_items)
    scenario.team_remove(alice, world.team, bob)
    scenario.team_add(alice, world.team, Credential.fresh("github", "ghp_", "github-team2"))
    scenario.team_reads(alice, world.team, alice.team_items + bob.team_items)
    world.team_seconds = time.perf_counter() - started


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, idp: str, built_assets: Path, playwright_instance: Playwright
) -> Iterator[World]:
    root = Path(tempfile.mkdtemp(prefix="zkv-breach-"))
    pg = PrivatePostgres() if request.param == "postgresql" else None
    # The scenario is a year of use at machine speed: one browser saves far more often than
    # a person can, so the per-client write limit (30 a minute) is lifted here.
    overrides = {"ZKVAULT_LOG_LEVEL": "debug", "ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT": "100000"}
    if pg:
        overrides["ZKVAULT_DATABASE_URL"] = pg.url
    (root / "server").mkdir()
    # The recording proxy is the server's public URL, the one every client uses: DPoP
    # proofs name it, so browsers, laptops and runners all go through it.
    port = free_port()
    proxy = HttpProxy(f"http://127.0.0.1:{port}", abbreviate_assets=True)
    overrides["ZKVAULT_PUBLIC_URL"] = proxy.url
    server = start_server(idp, root / "server", port, **overrides)
    database_url = pg.url if pg else f"sqlite:///{server.database}"
    attacker = Attacker(database_url)
    public = ServerProcess(proxy.url, server.proc, server.database, server.log)
    built = World(request.param, root, public, proxy, attacker, pg, playwright_instance, idp)
    try:
        live(built)
        yield built
    finally:
        for person in built.people.values():
            if person.browser_open:
                person.app.context.close()
            stop_agent(person.laptop)
            for runner in person.runners.values():
                shutil.rmtree(runner.env.root, ignore_errors=True)
        attacker.close()
        proxy.cut()
        stop(server.proc)
        if pg:
            pg.stop()
        if not os.environ.get("ZKVAULT_TEST_KEEP"):  # set it to look at the artefacts
            shutil.rmtree(root, ignore_errors=True)
