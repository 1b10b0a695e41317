"""Against the real server and OIDC provider processes: pairing, sync, revocation,
offline use, strict mode and runners."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from native.api import b64url_decode
from native.state import StateStore
from tests.native import support
from tests.native.gitserver import GitServer
from tests.native.serverproc import Owner, Server, start_server
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, REPO, Env, git, wait_gone
from tests.support import processes
from tests.support.httpproxy import HttpProxy
from tests.support.leaks import scan
from vault_core import Item, Vault, seal_grant
from vault_core import fingerprint as key_fingerprint
from vault_core.b64url import b64url_encode

pytestmark = pytest.mark.slow


def new_vault(owner: Owner) -> tuple[Vault, bytes]:
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
    for item in ITEMS:
        vault.add(item)
    vault.ensure_identity()  # as the web app makes it: the unlocks here then save nothing
    blob = vault.save()
    owner.put_vault(0, blob)
    return vault, blob


def start_pairing(env: Env, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start a pairing command; return it with the code and fingerprint it shows."""
    return support.start_pairing(env, *args, show=r"enter the code (\S+) ")


def connect(env: Env, owner: Owner, url: str) -> None:
    proc, code, fingerprint = start_pairing(env, "connect", "--server", url, "--name", "laptop")
    seen = owner.call("POST", "/api/pairings/lookup", json={"code": code}).json()
    # What a browser shows: the fingerprint computed from the key itself.
    assert key_fingerprint("machine", b64url_decode(seen["public_key"])) == fingerprint
    assert seen["name"] == "laptop"
    owner.approve(code, name="work laptop")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # The account that approved it and the name the owner gave it, not the requested one.
    assert f"as 'work laptop' in the account {owner.sub}@example.test" in out, out


def machine_id(owner: Owner) -> str:
    (machine,) = [m for m in owner.call("GET", "/api/machines").json() if not m["revoked_at"]]
    return str(machine["id"])


def test_pair_unlock_sync_and_revoke(
    env: Env, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner(server)
    vault, _ = new_vault(owner)
    connect(env, owner, server.url)
    again = env.zk("connect", "--server", server.url)
    assert again.returncode == 5 and "--clean" in again.stderr

    fast = {"ZKVAULT_CHECK_INTERVAL": "0.5"}
    assert (
        env.zk("unlock", "--passphrase-stdin", input=PASSPHRASE + "\n", extra=fast).returncode == 0
    )
    assert env.zk("get", "github").stdout == ITEMS[0].secret + "\n"

    # The owner adds an item in the browser: the running agent picks it up by itself ...
    vault.add(Item(name="new one", kind="generic", url="", secret="fresh-" * 4))
    owner.put_vault(1, vault.save())
    deadline = time.monotonic() + 10
    while env.zk("get", "new one").returncode != 0:
        assert time.monotonic() < deadline, "the agent did not pick up revision 2"
        time.sleep(0.3)
    assert env.zk("get", "new one").stdout == "fresh-" * 4 + "\n"
    # The agent adopted it before serving it, and remembered it: the vault memory's head.
    for key in ("ZKVAULT_HOME", "ZKVAULT_KEY_DIR", "ZKVAULT_KEYRING"):
        monkeypatch.setenv(key, env.vars[key])
    memory = StateStore().load().memory()
    assert memory is not None and memory.head.revision == 2 and memory.confirmed
    # ... and a change made while locked arrives with the next unlock.
    env.zk("lock", check=True)
    vault.add(Item(name="newer", kind="generic", url="", secret="newer-" * 4))
    owner.put_vault(2, vault.save())
    assert (
        env.zk("unlock", "--passphrase-stdin", input=PASSPHRASE + "\n", extra=fast).returncode == 0
    )
    assert env.zk("get", "newer").stdout == "newer-" * 4 + "\n"
    assert json.loads(env.zk("status", "--json").stdout)["revision"] == 3

    # Revoking the machine in the browser wipes the running agent.
    pid = env.agent_pid()
    assert pid is not None
    revoked = owner.call("DELETE", f"/api/machines/{machine_id(owner)}")
    assert revoked.status_code == 200, revoked.text
    assert wait_gone(pid, 10)
    assert not env.socket.exists()
    done = env.zk("unlock", "--passphrase-stdin", input=PASSPHRASE + "\n")
    assert done.returncode == 8 and "no longer authorised" in done.stderr


def test_server_rollback_and_tamper_are_refused(
    env: Env, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner(server)
    vault, first = new_vault(owner)
    second = vault.save()
    owner.put_vault(1, second)
    connect(env, owner, server.url)
    assert env.unlock().returncode == 0  # revision 2 seen and authenticated
    env.zk("lock", check=True)

    db = sqlite3.connect(server.workdir / "zkvault.sqlite3")
    account = uuid.UUID(owner.account_id).hex
    with db:  # the operator (or a thief with the database) serves the older revision
        db.execute("UPDATE vaults SET revision = 1 WHERE account_id = ?", (account,))
    done = env.unlock()
    assert done.returncode == 5 and "rollback" in done.stderr
    assert not env.socket.exists()

    with db:  # ... or flips a byte of the current one
        db.execute("UPDATE vaults SET revision = 2 WHERE account_id = ?", (account,))
        (blob,) = db.execute(
            "SELECT blob FROM vault_versions WHERE account_id = ? AND revision = 2", (account,)
        ).fetchone()
        bad = bytearray(blob)
        bad[-2] ^= 1
        db.execute(
            "UPDATE vault_versions SET blob = ? WHERE account_id = ? AND revision = 2",
            (bytes(bad), account),
        )
    db.close()
    done = env.unlock()
    assert done.returncode == 5 and "failed authentication" in done.stderr
    # Neither download replaced the good local copy.
    for key in ("ZKVAULT_HOME", "ZKVAULT_KEY_DIR", "ZKVAULT_KEYRING"):
        monkeypatch.setenv(key, env.vars[key])
    kept = StateStore().load()
    memory = kept.memory()
    assert memory is not None and memory.head.revision == 2 and first != second
    assert kept.vault_blob == second and kept.fork is None


@pytest.fixture
def proxied() -> Iterator[tuple[Server, HttpProxy]]:
    """A server whose public URL is a proxy in front of it (the one clients use), so that
    a test can cut it off."""
    port = processes.free_port()
    proxy = HttpProxy(f"http://127.0.0.1:{port}")
    server = start_server(port, public_url=proxy.url)
    try:
        yield server, proxy
    finally:
        proxy.cut()
        server.stop()


def test_offline_copy_and_strict_mode(env: Env, proxied: tuple[Server, HttpProxy]) -> None:
    server, proxy = proxied
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, proxy.url)
    strict = {"ZKVAULT_CHECK_INTERVAL": "0.5"}
    assert env.unlock("--strict", extra=strict).returncode == 0
    pid = env.agent_pid()
    assert pid is not None
    proxy.cut()  # the server becomes unreachable: strict mode wipes
    assert wait_gone(pid, 10)

    offline = env.unlock()  # not strict: the recent local copy is used
    assert offline.returncode == 0, offline.stderr
    assert "server unreachable; using the local copy" in offline.stderr
    assert env.zk("get", "github").stdout == ITEMS[0].secret + "\n"
    env.zk("lock", check=True)
    assert env.unlock("--strict").returncode == 7
    time.sleep(1.1)
    too_old = env.unlock(extra={"ZKVAULT_OFFLINE_MAX_AGE": "1"})
    assert too_old.returncode == 7 and "offline limit" in too_old.stderr


def _runner_env(env: Env, credential: str) -> dict[str, str]:
    return {"ZKVAULT_RUNNER_CREDENTIAL": credential}


def test_runner_reads_exactly_its_grant_until_revoked(env: Env, server: Server) -> None:
    owner = Owner(server)
    vault, _ = new_vault(owner)
    owner_fp = key_fingerprint("owner-grant", vault.owner_verify_key)
    proc, code, fingerprint = start_pairing(
        env,
        "runner",
        "enroll",
        "--name",
        "ci-1",
        "--server",
        server.url,
        "--owner-fingerprint",
        owner_fp.lower(),
    )
    owner.approve(code, grant_public_key=b64url_encode(vault.owner_verify_key))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"pinned the owner's grant key {owner_fp}" in err
    credential = out.strip()
    assert credential.startswith("zkvr1.") and "\n" not in credential

    (runner,) = owner.call("GET", "/api/runners").json()
    assert key_fingerprint("runner", b64url_decode(runner["public_key"])) == fingerprint

    by_name = {info.name: info.id for info in vault.items()}
    granted = [by_name["github"], by_name["ci token"]]
    blob = seal_grant(
        vault, uuid.UUID(runner["id"]), b64url_decode(runner["public_key"]), granted, 1
    )
    put = owner.call(
        "PUT",
        f"/api/runners/{runner['id']}/grant",
        json={"revision": 1, "blob": b64url_encode(blob)},
    )
    assert put.status_code == 200, put.text

    extra = _runner_env(env, credential)
    listed = env.zk("list", "--json", extra=extra)
    assert listed.returncode == 0, listed.stderr
    assert sorted(i["name"] for i in json.loads(listed.stdout)["items"]) == ["ci token", "github"]
    assert env.zk("get", "github", extra=extra).stdout == ITEMS[0].secret + "\n"
    assert env.zk("get", "deploy", extra=extra).returncode == 4
    helper = env.zk(
        "git-credential", "get", input="protocol=https\nhost=github.com\n\n", extra=extra
    )
    assert helper.stdout == f"username=x-access-token\npassword={ITEMS[0].secret}\n"
    script = "import os; print(os.environ['GITHUB'] == os.environ['T'], os.environ['GITHUB'])"
    ran = env.zk(
        "run",
        "--env",
        "T=github",
        "--env",
        "GITHUB=github",
        "--",
        sys.executable,
        "-c",
        script,
        extra=extra,
    )
    assert ran.returncode == 0 and ran.stdout == "True ****\n"
    # The only thing on disk: the highest grant revision opened, no secret.
    floor = env.home / f"runner-{runner['id']}.floor"
    assert [f.name for f in env.home.iterdir()] == [floor.name]
    assert floor.read_text() == "1"

    # The owner withdraws "ci token"; a server replaying the older grant is refused.
    narrower = seal_grant(
        vault, uuid.UUID(runner["id"]), b64url_decode(runner["public_key"]), [by_name["github"]], 2
    )
    assert (
        owner.call(
            "PUT",
            f"/api/runners/{runner['id']}/grant",
            json={"revision": 2, "blob": b64url_encode(narrower)},
        ).status_code
        == 200
    )
    assert env.zk("get", "ci token", extra=extra).returncode == 4
    assert floor.read_text() == "2"
    with sqlite3.connect(server.workdir / "zkvault.sqlite3") as db:
        db.execute(
            "UPDATE grants SET blob = ?, revision = 1 WHERE runner_id = ?",
            (blob, uuid.UUID(runner["id"]).hex),
        )
    replayed = env.zk("get", "ci token", extra=extra)
    assert replayed.returncode == 5 and "older grant" in replayed.stderr, replayed.stderr

    assert owner.call("DELETE", f"/api/runners/{runner['id']}").status_code == 200
    refused = env.zk("get", "github", extra=extra)
    assert refused.returncode == 8 and "not authorised" in refused.stderr
    bogus = env.zk("get", "github", extra={"ZKVAULT_RUNNER_CREDENTIAL": "zkvr1.nonsense"})
    assert bogus.returncode == 2 and "not a zkvault runner credential" in bogus.stderr


def test_pairing_interrupted_timed_out_refused(env: Env, server: Server) -> None:
    owner = Owner(server)
    proc, _, _ = start_pairing(env, "connect", "--server", server.url)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and err.endswith("zkvault: interrupted\n")
    assert "Traceback" not in err and not (env.home / "state.bin").exists()

    timed_out = env.zk("connect", "--server", server.url, "--timeout", "1")
    assert timed_out.returncode == 9 and "no approval within" in timed_out.stderr

    proc, code, _ = start_pairing(env, "connect", "--server", server.url)
    assert owner.call("POST", "/api/pairings/refuse", json={"code": code}).status_code == 200
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 8 and "refused" in err
    assert not (env.home / "state.bin").exists()


def test_clean_repairs_and_nothing_leaks_to_disk(env: Env, server: Server) -> None:
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    first = machine_id(owner)
    assert env.unlock().returncode == 0
    assert env.zk("get", "github").returncode == 0
    assert env.zk("run", "--", "true").returncode == 0

    # Every file this machine wrote: state, key, socket directory, HOME.
    artefacts = {
        str(p): p.read_bytes() for p in env.root.rglob("*") if p.is_file() and not p.is_symlink()
    }
    secrets = {i.name: i.secret for i in ITEMS} | {"passphrase": PASSPHRASE}
    assert scan(artefacts, secrets) == []

    proc, code, _ = start_pairing(env, "connect", "--clean")  # server URL remembered
    owner.approve(code)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert env.zk("status").returncode == 3  # --clean locked the running agent
    machines = {m["id"]: m for m in owner.call("GET", "/api/machines").json()}
    assert len(machines) == 2 and first in machines
    assert env.unlock().returncode == 0


def test_fresh_machine_pairs_unlocks_and_clones(env: Env, server: Server) -> None:
    """The issue's acceptance path: pair, unlock, clone over HTTP with only the helper."""
    token = "ghp_" + "Cl0neT0ken" * 4
    repos = env.root / "repos"
    repos.mkdir()
    assert git(env, "init", "-q", "--bare", str(repos / "private.git")).returncode == 0
    with GitServer(repos, token) as git_server:
        owner = Owner(server)
        vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
        vault.add(Item(name="private git", kind="git", url=git_server.url, secret=token))
        owner.put_vault(0, vault.save())
        connect(env, owner, server.url)
        assert env.unlock().returncode == 0
        assert env.zk("git", "setup").returncode == 0
        clone = git(env, "clone", "-q", git_server.url + "/private.git", str(env.root / "w"))
        assert clone.returncode == 0, clone.stderr
        assert any(ok for _, _, ok in git_server.requests)


def test_plain_http_only_for_a_local_server(env: Env) -> None:
    done = env.zk("connect", "--server", "http://vault.example.com")
    assert done.returncode == 2 and "use https://" in done.stderr
    assert env.zk("connect", "--server", "ftp://x").returncode == 2
    nothing = env.zk("connect")
    assert nothing.returncode == 2 and "ZKVAULT_SERVER" in nothing.stderr


def test_connected_before_the_vault_exists(env: Env, server: Server) -> None:
    owner = Owner(server)
    connect(env, owner, server.url)  # no vault yet: pairing still works
    early = env.unlock()
    assert early.returncode == 5 and "create it in the web app" in early.stderr
    new_vault(owner)
    assert env.unlock().returncode == 0
    assert env.zk("get", "github").stdout == ITEMS[0].secret + "\n"


def test_concurrent_refreshes_take_turns(env: Env, server: Server) -> None:
    """The CLI and the agent both rotate the refresh token, one at a time under the state
    lock: six processes refreshing at once must all succeed and leave the machine
    authorised."""
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    script = (
        "from native.api import Api\n"
        "from native.machine_tokens import refresh\n"
        "from native.state import StateStore\n"
        "store = StateStore()\n"
        "state = store.load()\n"
        "for _ in range(3):\n"
        "    refresh(store, Api(state.server or '', state.dpop_key()))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env.vars,
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert env.unlock().returncode == 0  # one more rotation, and the vault still syncs
    machines = owner.call("GET", "/api/machines").json()
    assert [m["revoked_at"] for m in machines] == [None]


def test_a_newer_vault_that_fails_verification_is_shown_not_adopted(
    env: Env, server: Server
) -> None:
    owner = Owner(server)
    vault, _ = new_vault(owner)
    connect(env, owner, server.url)
    assert env.unlock(extra={"ZKVAULT_CHECK_INTERVAL": "1"}).returncode == 0
    assert json.loads(env.zk("status", "--json").stdout)["warnings"] == []
    vault.add(Item(name="planted", kind="generic", url="", secret="planted-" * 4))
    bad = bytearray(vault.save())
    bad[-2] ^= 1  # the header still parses (the server accepts it); the body does not open
    owner.put_vault(1, bytes(bad))
    deadline = time.monotonic() + 20
    while not (warnings := json.loads(env.zk("status", "--json").stdout)["warnings"]):
        assert time.monotonic() < deadline, "the failed reload was not reported"
        time.sleep(0.2)
    assert len(warnings) == 1 and "revision 2 from the server failed verification" in warnings[0]
    shown = env.zk("status").stdout
    assert "warning: revision 2 from the server failed verification" in shown
    assert json.loads(env.zk("status", "--json").stdout)["revision"] == 1  # still held
    assert env.zk("get", "github").stdout == ITEMS[0].secret + "\n"
    assert env.zk("get", "planted").returncode == 4


def test_the_agent_waits_when_the_server_declines_to_hold_its_poll(env: Env) -> None:
    """A server at its cap on waiting polls answers at once (docs/server.md, "Watching the
    vault"): the agent asks again after the server's Retry-After, not twice a second."""
    server = start_server(ZKVAULT_HEAD_WAITS_PER_CLIENT="0")  # every poll declined
    try:
        owner = Owner(server)
        new_vault(owner)
        connect(env, owner, server.url)
        log = server.workdir / "server.log"

        def polls() -> int:
            return len(re.findall(r"GET /api/vault/head", log.read_text(errors="replace")))

        assert env.unlock().returncode == 0  # the default 25 s check interval
        deadline = time.monotonic() + 30
        while polls() == 0:  # the agent's first watch
            assert time.monotonic() < deadline, "the agent never polled"
            time.sleep(0.1)
        first = time.monotonic()
        while time.monotonic() < first + 4:  # a window the old 0.5 s gap filled 8 times
            time.sleep(0.2)
        assert polls() <= 2, polls()
    finally:
        env.zk("lock")
        server.stop()
