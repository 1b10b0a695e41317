"""Two zkvault-server instances on one PostgreSQL behind a real HAProxy (round robin, no
stickiness, health-checked): the browser, the CLI and a runner go through the balancer,
requests alternate between instances, limits are shared, and one instance is SIGKILLed
while the clients carry on.

Which instance answered what is read from each instance's own access log.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from native.api import b64url_decode
from server.encoding import b64url_encode
from tests.cluster.cluster import Logs, Person, database, instance_env
from tests.e2e.conftest import STRONG, new_app
from tests.native import support
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, Env
from tests.support import haproxy, report
from tests.support.dpop import DpopKey
from tests.support.processes import ROOT, ServerProcess, free_port, start_idp, start_server, stop
from vault_core import Item, Vault, seal_grant
from vault_core import fingerprint as key_fingerprint

pytestmark = pytest.mark.slow

SIGNIN_LIMIT = 10  # sign-ins per source address per window, on every instance
GUESS_LIMIT = 6  # pairing-code attempts per account per window


@dataclass
class Cluster:
    idp: str
    balancer: haproxy.Balancer
    servers: dict[str, ServerProcess]
    start: Callable[[str], ServerProcess]  # (re)starts one instance, on its own port
    url: str = ""
    sources: Iterator[int] = field(default_factory=lambda: iter(range(10, 250)))

    def __post_init__(self) -> None:
        self.url = self.balancer.url

    def person(self) -> Person:
        """A new person, connecting from their own loopback address."""
        return Person(self.url, self.idp, f"127.0.0.{next(self.sources)}")

    def mark(self) -> Logs:
        return Logs(self.servers)

    def other(self, name: str) -> ServerProcess:
        (found,) = [srv for n, srv in self.servers.items() if n != name]
        return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # The web app the browser test loads (tests/e2e builds it the same way).
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_web.py")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    idp, idp_proc = start_idp()
    servers: dict[str, ServerProcess] = {}
    balancer = None
    try:
        with database("zkv_cluster") as (_name, url):
            lb_port = free_port()
            ports = {"zk1": free_port(), "zk2": free_port()}
            env = instance_env(
                url,
                f"http://127.0.0.1:{lb_port}",
                b64url_encode(secrets.token_bytes(32)),
                ZKVAULT_RATE_SIGNIN_PER_IP=str(SIGNIN_LIMIT),
                ZKVAULT_RATE_CODE_ATTEMPTS_PER_ACCOUNT=str(GUESS_LIMIT),
            )

            def start(name: str) -> ServerProcess:
                return start_server(idp, tmp_path_factory.mktemp(name), ports[name], **env)

            # One after the other: development mode migrates on start.
            for name in ports:
                servers[name] = start(name)
            balancer = haproxy.start(tmp_path_factory.mktemp("lb"), ports, port=lb_port)
            yield Cluster(idp, balancer, servers, start)
    finally:
        if balancer is not None:
            balancer.stop()
        for srv in servers.values():
            stop(srv.proc)
        stop(idp_proc)


def new_vault(person: Person) -> Vault:
    vault = Vault.create(person.account, PASSPHRASE, kdf=FAST_KDF)
    vault.ensure_identity()  # else the laptop's first unlock saves one, a revision ahead
    for item in ITEMS:
        vault.add(item)
    saved = person.put_vault(0, vault.save())
    assert saved.status_code == 200, saved.text
    return vault


def test_requests_alternate(cluster: Cluster) -> None:
    logs = cluster.mark()
    with httpx.Client(base_url=cluster.url) as http:  # one keep-alive connection
        answers = [http.get("/.well-known/jwks.json").status_code for _ in range(10)]
    assert answers == [200] * 10
    assert logs.served("GET", "/.well-known/jwks.json", total=10) == {"zk1": 5, "zk2": 5}


def test_browser_sign_in_lands_on_the_other_instance(cluster: Cluster, browser: Browser) -> None:
    # The suite's one Chromium (tests/e2e/conftest.py): Playwright's sync API allows one
    # instance per thread.
    front = ServerProcess(cluster.url, cluster.balancer.proc, Path(), cluster.balancer.log)
    app = new_app(browser, front, cluster.idp)
    try:
        app.open("/")
        # Every asset and the worker's files loaded first: a late asset request between the
        # sign-in's two requests would shift the balancer's round robin.
        app.wait_engine()
        logs = cluster.mark()
        app.sign_in(f"browser-{secrets.token_hex(4)}")
        started, finished = logs.who("POST", "/auth/login"), logs.who("GET", "/auth/callback")
        assert started != finished
        app.create_vault(STRONG)  # refresh, then the first save, through the balancer
        app.lock()
        app.unlock(STRONG)
        app.visible("items")
        per_instance = {name: len(logs.lines(name)) for name in cluster.servers}
        assert all(count > 0 for count in per_instance.values()), per_instance
    finally:
        app.context.close()


def test_refresh_rotation_across_instances(cluster: Cluster) -> None:
    logs = cluster.mark()
    person = cluster.person()
    assert logs.who("POST", "/auth/login") != logs.who("GET", "/auth/callback")
    tokens = {person.token}
    for _ in range(6):  # back to back, so they alternate: each uses its predecessor's successor
        assert person.refresh().status_code == 200
        tokens.add(person.token)
    assert len(tokens) == 7
    refreshes = logs.served("POST", "/auth/refresh", total=7)
    assert sum(refreshes.values()) == 7 and min(refreshes.values()) >= 3, refreshes
    # The latest access token is accepted by both instances.
    assert [person.call("GET", "/api/me").status_code for _ in range(2)] == [200, 200]
    assert min(logs.served("GET", "/api/me", total=2).values()) == 1


def test_sign_in_limit_is_shared(cluster: Cluster) -> None:
    source = f"127.0.0.{next(cluster.sources)}"
    logs = cluster.mark()
    from tests.cluster.cluster import client

    key = DpopKey("ES256")
    with client(cluster.url, source) as http:
        answers = [
            http.post("/auth/login", auth=key.auth()).status_code for _ in range(SIGNIN_LIMIT + 2)
        ]
    assert answers == [200] * SIGNIN_LIMIT + [429, 429], answers
    per_instance = logs.served("POST", "/auth/login", total=SIGNIN_LIMIT + 2)
    # Neither instance saw as many as the limit: the count spans both.
    assert max(per_instance.values()) < SIGNIN_LIMIT, per_instance
    assert sum(per_instance.values()) == SIGNIN_LIMIT + 2


def test_pairing_guess_limit_is_shared(cluster: Cluster) -> None:
    person = cluster.person()
    logs = cluster.mark()
    answers = [
        person.call("POST", "/api/pairings/approve", json={"code": f"ZZZZZ-{i:05d}"}).status_code
        for i in range(GUESS_LIMIT + 2)
    ]
    assert answers == [404] * GUESS_LIMIT + [429, 429], answers
    per_instance = logs.served("POST", "/api/pairings/approve", total=GUESS_LIMIT + 2)
    assert max(per_instance.values()) < GUESS_LIMIT, per_instance


@dataclass
class Fleet:
    owner: Person
    vault: Vault
    laptop: Env
    runner: Env
    runner_credential: str


@pytest.fixture(scope="module")
def fleet(cluster: Cluster) -> Iterator[Fleet]:
    owner = cluster.person()
    vault = new_vault(owner)
    laptop, runner = support.make_env(), support.make_env()
    try:
        yield Fleet(owner, vault, laptop, runner, "")
    finally:
        support.stop_agent(laptop)
        support.stop_agent(runner)


def pair(cluster: Cluster, env: Env, owner: Person, *args: str, **extra: str) -> str:
    """Start a pairing through the balancer; approve it at the instance that did not
    take the request. Returns what the command printed."""
    logs = cluster.mark()
    proc, code, fingerprint = support.start_pairing(
        env, *args, "--server", cluster.url, show=r"enter the code (\S+) "
    )
    created_on = logs.who("POST", "/api/pairings")
    other = cluster.other(created_on).url
    seen = owner.call("POST", "/api/pairings/lookup", base=other, json={"code": code})
    # What a person compares: the fingerprint the command printed, and the one the owner's
    # side computes from the key the server hands over (never the server's own field).
    assert seen.status_code == 200
    shown = key_fingerprint(seen.json()["kind"], b64url_decode(seen.json()["public_key"]))
    assert shown == fingerprint
    approved = owner.call("POST", "/api/pairings/approve", base=other, json={"code": code, **extra})
    assert approved.status_code == 200, approved.text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    approvals = logs.served("POST", "/api/pairings/approve", total=1)
    assert approvals[created_on] == 0 and sum(approvals.values()) == 1
    polls = logs.served("POST", "/api/pairings/poll", total=1)
    assert sum(polls.values()) >= 1, polls
    return out


@pytest.fixture(scope="module")
def paired(cluster: Cluster, fleet: Fleet) -> Fleet:
    """The fleet's laptop and runner, each paired through the balancer (started on one
    instance, approved through the other); the runner is granted `github`."""
    out = pair(cluster, fleet.laptop, fleet.owner, "connect", "--name", "laptop")
    assert "connected to" in out
    owner = fleet.owner
    credential = pair(
        cluster,
        fleet.runner,
        owner,
        "runner",
        "enroll",
        "--name",
        "ci-1",
        "--owner-fingerprint",
        key_fingerprint("owner-grant", fleet.vault.owner_verify_key),
        grant_public_key=b64url_encode(fleet.vault.owner_verify_key),
    ).strip()
    assert credential.startswith("zkvr1.")
    (runner,) = owner.call("GET", "/api/runners").json()
    by_name = {info.name: info.id for info in fleet.vault.items()}
    grant = seal_grant(
        fleet.vault,
        uuid.UUID(runner["id"]),
        b64url_decode(runner["public_key"]),
        [by_name["github"]],
        1,
    )
    body = {"revision": 1, "blob": b64url_encode(grant)}
    assert owner.call("PUT", f"/api/runners/{runner['id']}/grant", json=body).status_code == 200
    fleet.runner_credential = credential
    return fleet


def test_pairing_starts_on_one_and_is_approved_through_the_other(paired: Fleet) -> None:
    assert paired.laptop.unlock().returncode == 0
    assert paired.laptop.zk("get", "github").stdout == ITEMS[0].secret + "\n"
    ci = {"ZKVAULT_RUNNER_CREDENTIAL": paired.runner_credential}
    got = paired.runner.zk("get", "github", extra=ci)
    assert got.stdout == ITEMS[0].secret + "\n", got.stderr


def test_one_instance_killed_mid_run(cluster: Cluster, paired: Fleet) -> None:
    fleet = paired
    owner, vault = fleet.owner, fleet.vault
    runner = {"ZKVAULT_RUNNER_CREDENTIAL": fleet.runner_credential}
    revision = owner.call("GET", "/api/vault").json()["revision"]
    victim = "zk1"
    tried = {"write": 0, "read": 0, "runner": 0, "laptop": 0}
    ok = dict.fromkeys(tried, 0)
    retried = 0
    written: list[str] = []
    pending: list[str] = []  # added, not yet saved
    failed_writes: list[tuple[int, int]] = []  # (write, status; 0: no answer)
    killed_at = 0.0
    started = time.monotonic()

    def as_the_web_app(send: Callable[[], httpx.Response]) -> int:
        """The status the web app would end with (web/api.js, call): after a 401 it
        refreshes and sends once more; nothing else is sent again. A 5xx or a dropped
        connection is shown to the person (status 0 here): the balancer must have
        carried the request to the surviving instance by itself."""
        nonlocal retried
        try:
            answer = send()
            if answer.status_code == 401:
                retried += 1
                owner.refresh()
                answer = send()
        except httpx.TransportError:
            return 0
        return answer.status_code

    for i in range(12):
        if i == 4:
            os.kill(cluster.servers[victim].proc.pid, signal.SIGKILL)
            killed_at = time.monotonic()
        # The owner saves a new item (a write that must not be lost) ...
        name = f"item-{i}"
        vault.add(Item(name=name, kind="generic", url="", secret=f"s{i}-" * 6))
        pending.append(name)
        base = (vault.revision, vault.head_sha256)
        blob = vault.save()
        tried["write"] += 1
        saved = as_the_web_app(lambda: owner.put_vault(revision, blob))  # noqa: B023
        if saved == 409:  # the balancer's retry of a PUT whose first attempt committed
            # The web app's save() fetches the newer vault and merges: nothing to add.
            latest = owner.call("GET", "/api/vault")
            saved = latest.status_code if b64url_decode(latest.json()["blob"]) == blob else 409
        if saved == 200:
            ok["write"] += 1
            revision += 1
            written += pending
            pending.clear()
        else:
            # The web app keeps an edit the server did not take and carries it in the next
            # save (on the same base): one failure must not make every later write fail.
            failed_writes.append((i, saved))
            vault.revision, vault.head_sha256 = base
        # ... reads it back, a runner reads its grant, and the laptop syncs.
        tried["read"] += 1
        ok["read"] += as_the_web_app(lambda: owner.call("GET", "/api/vault")) == 200
        tried["runner"] += 1
        got = fleet.runner.zk("get", "github", extra=runner)
        ok["runner"] += got.returncode == 0 and got.stdout == ITEMS[0].secret + "\n"
        if i % 3 == 2:
            tried["laptop"] += 1
            fleet.laptop.zk("lock")
            ok["laptop"] += fleet.laptop.unlock().returncode == 0
    elapsed = time.monotonic() - started
    assert cluster.servers[victim].proc.wait(5) == -signal.SIGKILL

    # Nothing lost: the laptop, syncing through the surviving instance, has every item.
    fleet.laptop.zk("lock")
    assert fleet.laptop.unlock().returncode == 0
    present = [n for n in written if fleet.laptop.zk("get", n).returncode == 0]
    balancer_log = cluster.balancer.log_lines()
    down = [line for line in balancer_log if f"instances/{victim} is DOWN" in line]
    report.attach(
        "cluster: one of two instances SIGKILLed mid-run",
        f"operations tried {tried}, succeeded {ok}; owner requests sent again after a 401 "
        f"and a refresh (the web app's only retry): {retried}; items written "
        f"{len(written)}, present on the "
        f"laptop afterwards {len(present)}; killed {killed_at - started:.1f} s into a "
        f"{elapsed:.1f} s run; "
        f"HAProxy marked it down: {len(down)} time(s)",
    )
    # Back to two instances for whatever test runs next, in any order.
    cluster.servers[victim] = cluster.start(victim)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        f"instances/{victim} is UP" in line for line in cluster.balancer.log_lines()
    ):
        time.sleep(0.2)
    # What the web app promises: nothing lost. Every edit reached the server, carried by
    # the next save if its own failed; only the write sent just as the instance died may
    # fail visibly (the balancer cannot replay a PUT on a connection that died under it).
    assert present == written and len(written) == 12, (written, present)
    assert all(i == 4 for i, _ in failed_writes), failed_writes
    assert {k: v for k, v in ok.items() if k != "write"} == {
        k: v for k, v in tried.items() if k != "write"
    }, (tried, ok)
    assert down, "HAProxy never marked the killed instance down"


def test_balancer_logs_no_query_strings(cluster: Cluster) -> None:
    # Two real sign-ins through the balancer, and a callback with a made-up code and state.
    cluster.person()
    cluster.person()
    r = httpx.get(f"{cluster.url}/auth/callback?code=SeCrEtCoDe&state=SeCrEtStAtE")
    assert r.status_code < 500
    text = cluster.balancer.log.read_text(errors="replace")
    callbacks = [line for line in text.splitlines() if "GET /auth/callback" in line]
    assert len(callbacks) >= 3, "the balancer's log has no callback lines to check"
    assert not re.search(r"code=|state=|SeCrEt", text)
    for srv in cluster.servers.values():
        assert "SeCrEt" not in srv.log.read_text(errors="replace")


def test_haproxy_default_httplog_would_leak(tmp_path: Path) -> None:
    """The control: HAProxy's stock `option httplog` does log the query string, which is
    why the configuration above replaces it."""
    backend = free_port()
    cfg = haproxy.config(free_port(), {"zk": backend}).replace(
        f'    log-format "{haproxy.LOG_FORMAT}"\n', "    option httplog\n"
    )
    assert "option httplog" in cfg
    path = tmp_path / "stock.cfg"
    path.write_text(cfg)
    port = int(re.search(r"bind 127\.0\.0\.1:(\d+)", cfg).group(1))  # type: ignore[union-attr]
    out = tmp_path / "stock.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen([haproxy.binary(), "-db", "-f", str(path)], stdout=sink)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "code=" not in out.read_text(errors="replace"):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/auth/callback?code=abc&state=def", timeout=2)
            time.sleep(0.2)
    finally:
        stop(proc)
    assert "/auth/callback?code=abc&state=def" in out.read_text(errors="replace")
