"""Writing from the CLI (`add`, `edit`, `rename`, `rm`, `rotate`) against the real server,
OIDC provider and agent: each command, what the server then holds and audits, a write
racing one made as the web app makes it (vault_web's worker Session), and where the secret
never goes."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from native.api import b64url_decode
from tests.native import support
from tests.native.serverproc import Owner, Server, start_server
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, REPO, Env
from tests.support import processes
from tests.support.httpproxy import HttpProxy, Request
from vault_core import Vault
from vault_web.worker_vault import Session

pytestmark = pytest.mark.slow


def new_vault(owner: Owner) -> Vault:
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
    for item in ITEMS:
        vault.add(item)
    # Made as the web app or a first unlock makes it: the unlocks here then save nothing
    # of their own, and every revision counted below is a write of the command tested.
    vault.ensure_identity()
    owner.put_vault(0, vault.save())
    return vault


def connect(env: Env, owner: Owner, url: str) -> str:
    """Pair ``env`` with the owner's account through ``url``; the machine's id."""
    proc, code, _ = support.start_pairing(
        env, "connect", "--server", url, "--name", "laptop", show=r"enter the code (\S+) "
    )
    owner.approve(code, name="work laptop")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    (machine,) = [m for m in owner.call("GET", "/api/machines").json() if not m["revoked_at"]]
    return str(machine["id"])


def server_vault(owner: Owner) -> Vault:
    """The vault the server holds now, opened as another device would."""
    blob = b64url_decode(owner.call("GET", "/api/vault").json()["blob"])
    return Vault.open(blob, PASSPHRASE, account_id=uuid.UUID(owner.account_id))


def secret_of(vault: Vault, name: str) -> str:
    return vault.get(vault.lookup(name).id).secret


def zk_json(env: Env, *args: str, input: str | None = None) -> tuple[int, dict[str, Any]]:
    done = env.zk(*args, "--json", input=input, timeout=60)
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def test_each_command_saves_through_the_server_and_is_audited(env: Env, server: Server) -> None:
    owner = Owner(server)
    new_vault(owner)
    machine = connect(env, owner, server.url)
    assert env.unlock().returncode == 0

    code, added = zk_json(
        env,
        *("add", "npm", "--kind", "generic", "--url", "https://registry.npmjs.org"),
        *("--username", "me", "--scope", "publish", "--scope", "read"),
        *("--expires", "2030-01-02", "--note", "for CI", "--secret-stdin"),
        input="npm_first_secret\n",
    )
    assert code == 0 and added["action"] == "add" and added["revision"] == 2, added
    assert added["name"] == "npm" and added["merged"] is False and added["runners"] == []
    assert env.zk("get", "npm").stdout == "npm_first_secret\n"  # the agent serves it at once
    assert env.zk("get", "npm", "--field", "scopes").stdout == "publish,read\n"
    held = server_vault(owner)
    assert secret_of(held, "npm") == "npm_first_secret"
    info = held.lookup("npm")
    assert (info.url, info.username, info.expires, info.note) == (
        "https://registry.npmjs.org",
        "me",
        "2030-01-02",
        "for CI",
    )
    # This machine's lineage: the save names it (format.md §14), and its memory follows.
    assert held.lineage is not None and held.lineage.saved_by.name.startswith("zkvault on ")
    held.lock()

    edited = env.zk("edit", "npm", "--url", "https://npm.example.com", "--note", "")
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout == "updated 'npm' (revision 3)\n"
    assert env.zk("get", "npm", "--field", "url").stdout == "https://npm.example.com\n"
    assert env.zk("get", "npm").stdout == "npm_first_secret\n"  # kept: no --secret
    code, resecret = zk_json(env, "edit", "npm", "--secret-stdin", input="npm_second\n")
    assert code == 0 and resecret["revision"] == 4

    renamed = env.zk("rename", "npm", "npm-ci")
    assert renamed.stdout == "renamed 'npm' to 'npm-ci' (revision 5)\n", renamed.stderr
    assert env.zk("get", "npm").returncode == 4

    rotated = env.zk("rotate", "npm-ci", "--secret-stdin", input="npm_third\n")
    assert rotated.returncode == 0, rotated.stderr
    assert "rotated 'npm-ci': the new secret is saved (revision 6)" in rotated.stdout
    assert "The old secret stays in the vault's history" in rotated.stdout
    # ... and it does: the server's revision 5 still holds the previous one.
    old = b64url_decode(owner.call("GET", "/api/vault/history/5").json()["blob"])
    current = server_vault(owner)
    previous = current.open_revision(old)
    assert secret_of(previous, "npm-ci") == "npm_second"
    assert secret_of(current, "npm-ci") == "npm_third"
    previous.lock()
    current.lock()

    # Without --kind, the token's format chooses (vault_core.token_formats), else generic;
    # a --kind its format disagrees with is kept, with a warning on stderr.
    token = "ghp_" + "A1b2C3d4" * 4 + "abcd"
    code, guessed = zk_json(env, "add", "gh-bot", "--secret-stdin", input=token + "\n")
    assert code == 0 and guessed["name"] == "gh-bot"
    assert env.zk("get", "gh-bot", "--field", "kind").stdout == "github\n"
    code, plain = zk_json(env, "add", "plain", "--secret-stdin", input="not-a-known-format")
    assert code == 0 and plain["revision"] == guessed["revision"] + 1
    assert env.zk("get", "plain", "--field", "kind").stdout == "generic\n"
    told = env.zk("add", "gl", "--kind", "gitlab", "--secret-stdin", input=token)
    assert told.returncode == 0, told.stderr
    assert "warning: This looks like a GitHub personal access token" in told.stderr
    assert token not in told.stderr + told.stdout
    assert env.zk("get", "gl", "--field", "kind").stdout == "gitlab\n"
    for name in ("gh-bot", "plain", "gl"):
        env.zk("rm", name, "--yes", check=True)

    refused = env.zk("rm", "npm-ci")  # no terminal to ask on, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    code, removed = zk_json(env, "rm", "npm-ci", "--yes")
    assert code == 0 and removed["removed"] is True and removed["revision"] == 13
    assert removed["in_history"] is True
    assert env.zk("get", "npm-ci").returncode == 4

    # Every write is audited as this machine's: twelve saves, each named machine:<its id>.
    events = owner.call("GET", "/api/audit?limit=100").json()["events"]
    writes = [e for e in events if e["action"] == "vault.write"]
    mine = [e for e in writes if e["actor"] == f"machine:{machine}"]
    assert len(mine) == 12, writes
    assert {e["detail"].split(",")[0] for e in mine} == {f"revision {n}" for n in range(2, 14)}

    # The memory kept in the state is the last write, this machine's own (§14.2).
    status = json.loads(env.zk("status", "--json").stdout)
    assert status["revision"] == 13 and status["last_saved"]["by"].startswith("zkvault on ")


def test_bad_input_is_a_typed_error_and_changes_nothing(env: Env, server: Server) -> None:
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    locked = env.zk("add", "x", "--kind", "generic", "--secret-stdin", input="s\n")
    assert locked.returncode == 3 and "locked" in locked.stderr
    assert env.unlock().returncode == 0
    cases: list[tuple[tuple[str, ...], str, int, str]] = [
        (("add", "github", "--kind", "github", "--secret-stdin"), "x\n", 2, "exists"),
        (("add", ".zkvault-x", "--kind", "generic", "--secret-stdin"), "x\n", 2, "reserved_name"),
        (
            ("add", "d", "--kind", "generic", "--expires", "2030-13-01", "--secret-stdin"),
            "x",
            2,
            "invalid_item",
        ),
        (("add", "e", "--kind", "git", "--secret-stdin"), "x\n", 2, "invalid_item"),  # no url
        (("add", "f", "--kind", "generic", "--secret-stdin"), "\n", 2, "empty_secret"),
        (("add", "g", "--kind", "generic"), "", 2, "usage"),  # no terminal, no --secret-stdin
        (("edit", "nope", "--url", "https://x"), "", 4, "not_found"),
        (("edit", "github"), "", 2, "usage"),  # nothing to change
        (("rename", "github", "deploy"), "", 2, "exists"),
        (("rotate", "nope", "--secret-stdin"), "x\n", 4, "not_found"),
    ]
    for args, stdin, exit_code, error in cases:
        code, answer = zk_json(env, *args, input=stdin)
        assert (code, answer["error"]) == (exit_code, error), (args, answer)
        assert answer["ok"] is False and "x\n" not in answer["message"]
    assert json.loads(env.zk("status", "--json").stdout)["revision"] == 1
    assert env.zk("add", "--help").returncode == 0


def test_an_imported_vault_has_no_server_to_save_to(
    env: Env, vault_file: support.VaultFile
) -> None:
    account = str(vault_file.account_id)
    code, imported = zk_json(env, "adopt", str(vault_file.path), "--account-id", account)
    assert (code, imported) == (0, {"ok": True, "revision": 1})
    assert env.unlock().returncode == 0
    code, answer = zk_json(env, "add", "x", "--kind", "generic", "--secret-stdin", input="s")
    assert (code, answer["error"]) == (2, "no_server")
    assert zk_json(env, "lock") == (0, {"ok": True, "already": False})
    assert zk_json(env, "lock") == (0, {"ok": True, "already": True})


# -- racing the web app --------------------------------------------------------------------


@pytest.fixture
def proxied() -> Iterator[tuple[Server, HttpProxy, str]]:
    """A server whose public URL is a proxy (the one the CLI uses), and the server's own
    address, for the web app's requests that must not pass the proxy."""
    port = processes.free_port()
    proxy = HttpProxy(f"http://127.0.0.1:{port}")
    server = start_server(port, public_url=proxy.url)
    try:
        yield server, proxy, f"http://127.0.0.1:{port}"
    finally:
        proxy.cut()
        server.stop()


class WebApp:
    """The owner's browser: vault_web's worker Session (the code the web app runs in
    Pyodide) and the page's save pipeline (web/core.js ``save``) over the real API."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.session = Session()
        blob = owner.call("GET", "/api/vault").json()["blob"]
        device = {"id": uuid.uuid4().hex, "name": "Firefox on Linux"}
        self.session.op_unlock(owner.account_id, blob, PASSPHRASE, device=device)

    def edit(self, op: str, **args: Any) -> None:
        edit = getattr(self.session, "op_" + op)(**args)
        for _ in range(4):
            body = {k: edit[k] for k in ("base_revision", "base_sha256", "blob")}
            put = self.owner.call("PUT", "/api/vault", json=body)
            if put.status_code == 200:
                self.session.op_committed(put.json()["revision"])
                return
            assert put.json()["code"] == "revision_conflict", put.text
            edit = self.session.op_rebase(self.owner.call("GET", "/api/vault").json()["blob"])
        raise AssertionError("the web app's save never went through")

    def item_id(self, name: str) -> str:
        (found,) = [i["id"] for i in self.session.op_list()["items"] if i["name"] == name]
        return str(found)

    def fields(self, name: str, **changes: Any) -> dict[str, Any]:
        (found,) = [i for i in self.session.op_list()["items"] if i["name"] == name]
        return {**found, **changes}


def before_next_save(proxy: HttpProxy, act: Callable[[], None]) -> list[int]:
    """Run ``act`` (a web-app save) when the CLI's next upload reaches the proxy and before
    the proxy forwards it: the CLI's write then races a save that landed first. Returns a
    list that gets one entry per run."""
    ran: list[int] = []

    def route(request: Request) -> int:
        if request.method == "PUT" and request.path == "/api/vault" and not ran:
            ran.append(1)
            act()
        return 0

    proxy.route = route
    return ran


def test_a_concurrent_web_edit_merges_as_two_browsers_do(
    env: Env, proxied: tuple[Server, HttpProxy, str]
) -> None:
    server, proxy, direct = proxied
    owner = Owner(dataclasses.replace(server, url=direct), public_url=proxy.url)
    new_vault(owner)
    connect(env, owner, proxy.url)
    assert env.unlock().returncode == 0
    web = WebApp(owner)

    # Different items: the web app changes github while the CLI changes deploy; both kept.
    ran = before_next_save(
        proxy,
        lambda: web.edit(
            "update",
            item_id=web.item_id("github"),
            fields=web.fields("github", note="from the browser"),
            secret="",
        ),
    )
    done = env.zk("edit", "deploy", "--url", "https://gitlab.example.com/other")
    assert ran and done.returncode == 0, done.stderr
    assert "merged on top" in done.stderr
    assert done.stdout == "updated 'deploy' (revision 3)\n"
    held = server_vault(owner)
    assert held.lookup("github").note == "from the browser"
    assert held.lookup("deploy").url == "https://gitlab.example.com/other"
    held.lock()
    assert env.zk("get", "github", "--field", "note").stdout == "from the browser\n"

    # The same item, as two browsers: the web app's edit landed first, the CLI's is applied
    # on top of it (its field wins, the web app's other change stays), with a note.
    web.session.op_rebase(owner.call("GET", "/api/vault").json()["blob"])
    ran = before_next_save(
        proxy,
        lambda: web.edit(
            "update",
            item_id=web.item_id("deploy"),
            fields=web.fields("deploy", username="web-user", note="web note"),
            secret="",
        ),
    )
    done = env.zk("edit", "deploy", "--username", "cli-user")
    assert ran and done.returncode == 0, done.stderr
    assert "'deploy' was changed elsewhere; this change was applied on top" in done.stderr
    held = server_vault(owner)
    assert held.revision == 5
    assert (held.lookup("deploy").username, held.lookup("deploy").note) == ("cli-user", "web note")
    held.lock()
    assert env.zk("get", "deploy", "--field", "username").stdout == "cli-user\n"

    # The same name added on both sides: as two browsers, the later one is kept as "(2)".
    web.session.op_rebase(owner.call("GET", "/api/vault").json()["blob"])
    ran = before_next_save(
        proxy,
        lambda: web.edit("add", fields={"name": "pypi", "kind": "generic"}, secret="pypi-web"),
    )
    code, answer = zk_json(env, "add", "pypi", "--kind", "generic", "--secret-stdin", input="c")
    assert ran and code == 0, answer
    assert answer["notes"] == ["'pypi' also exists on the server; yours is kept as 'pypi (2)'"]
    assert env.zk("get", "pypi").stdout == "pypi-web\n"
    assert env.zk("get", "pypi (2)").stdout == "c\n"

    # An edit of an item removed meanwhile adds it again, as the web app does.
    web.session.op_rebase(owner.call("GET", "/api/vault").json()["blob"])
    ran = before_next_save(proxy, lambda: web.edit("remove", item_id=web.item_id("pypi (2)")))
    done = env.zk("edit", "pypi (2)", "--note", "still wanted")
    assert ran and done.returncode == 0, done.stderr
    assert "'pypi (2)' was removed elsewhere; this change adds it again" in done.stderr
    assert env.zk("get", "pypi (2)", "--field", "note").stdout == "still wanted\n"

    # A remove racing an edit of another item goes through; the web app's edit stays.
    web.session.op_rebase(owner.call("GET", "/api/vault").json()["blob"])
    ran = before_next_save(
        proxy,
        lambda: web.edit(
            "update",
            item_id=web.item_id("github"),
            fields=web.fields("github", note="again"),
            secret="",
        ),
    )
    done = env.zk("rm", "ci token", "--yes")
    assert ran and done.returncode == 0, done.stderr
    held = server_vault(owner)
    assert held.lookup("github").note == "again"
    assert "ci token" not in {i.name for i in held.items()}
    held.lock()


def test_a_granted_item_tells_that_the_grants_need_resealing(env: Env, server: Server) -> None:
    from tests.native.serverproc import enrol_granted_runner

    owner = Owner(server)
    vault = new_vault(owner)
    runner_env = support.make_env()
    try:
        enrol_granted_runner(runner_env, owner, vault, server.url, "ci-1", ["github"])
    finally:
        support.stop_agent(runner_env)
    # The owner pins and grants in the vault (as the web app does), so the CLI can tell.
    (listed,) = owner.call("GET", "/api/runners").json()
    runner = uuid.UUID(listed["id"])
    vault.pin_runner(runner, b64url_decode(listed["public_key"]), "ci-1")
    grants = vault.runner_grants()
    grants.set(runner, [vault.lookup("github").id])
    vault.set_runner_grants(grants)
    owner.put_vault(1, vault.save())
    connect(env, owner, server.url)
    assert env.unlock("--confirm").returncode == 0

    done = env.zk("rotate", "github", "--secret-stdin", input="ghp_new\n")
    assert done.returncode == 0, done.stderr
    assert "runner(s) 'ci-1' hold a grant of this item sealed before the change" in done.stderr
    assert "reseal them in the web app" in done.stderr
    code, answer = zk_json(env, "edit", "deploy", "--note", "n")  # not granted: nothing said
    assert code == 0 and answer["runners"] == [] and answer["reseal_needed"] is False
    code, answer = zk_json(env, "edit", "github", "--note", "n")
    assert answer["runners"] == ["ci-1"] and answer["reseal_needed"] is True


# -- where the secret never goes -----------------------------------------------------------


def _everywhere(needle: bytes) -> list[str]:
    """Every process's command line and environment that holds ``needle``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for what in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{what}").read_bytes()
            except OSError:
                continue
            if needle in data:
                found.append(f"{pid}/{what}")
    return found


def test_the_secret_is_never_in_argv_environments_or_history(env: Env, server: Server) -> None:
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    assert env.unlock().returncode == 0
    secret = "zkv_leak_probe_" + uuid.uuid4().hex
    needle = secret.encode()

    # stdin: while the CLI holds the secret (stdin still open) and after the agent saved it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "native", "add", "probe", "--kind", "generic", "--secret-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env.vars,
        cwd=REPO,
    )
    assert proc.stdin is not None
    proc.stdin.write(needle + b"\n")
    proc.stdin.flush()
    time.sleep(0.3)  # let it read what was written; it waits for EOF
    assert proc.poll() is None
    assert _everywhere(needle) == []
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert _everywhere(needle) == []
    # A command the agent starts through `run` gets it only where asked for.
    leak = env.zk(
        "run",
        "--env",
        "P=probe",
        "--",
        sys.executable,
        "-c",
        "import os; print(sorted(k for k, v in os.environ.items() if 'zkv_leak' in v))",
    )
    assert leak.stdout.strip() == "['P']", leak.stdout

    # A terminal: the prompt asks twice, echoes nothing; bash's history keeps the command
    # line only.
    bindir = env.root / "bin"
    bindir.mkdir()
    wrapper = bindir / "zkvault"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m native "$@"\n')
    wrapper.chmod(0o755)
    histfile = env.root / "history"
    shell_env = {
        **env.vars,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "HISTFILE": str(histfile),
        "PS1": "$ ",
    }
    secret2 = "zkv_tty_probe_" + uuid.uuid4().hex
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], shell_env)
    transcript = bytearray()

    def until(text: bytes) -> None:
        deadline = time.monotonic() + 60
        while text not in transcript:
            assert time.monotonic() < deadline, bytes(transcript)
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                transcript.extend(os.read(fd, 4096))

    until(b"$ ")
    os.write(fd, b"zkvault add tty-probe --kind generic\n")
    until(b"secret for tty-probe: ")
    os.write(fd, secret2.encode() + b"\n")
    until(b"again: ")
    os.write(fd, secret2.encode() + b"\n")
    until(b"added 'tty-probe'")
    assert _everywhere(secret2.encode()) == []
    os.write(fd, b"exit\n")
    os.waitpid(pid, 0)
    os.close(fd)
    assert secret2.encode() not in transcript  # no echo
    history = histfile.read_text()
    assert "zkvault add tty-probe --kind generic" in history
    assert secret2 not in history
    assert env.zk("get", "tty-probe").stdout == secret2 + "\n"


def test_zsh_and_fish_complete_item_names_from_the_agent(env: Env, unlocked: Any) -> None:
    bindir = env.root / "bin"
    bindir.mkdir()
    (bindir / "zkvault").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m native "$@"\n')
    (bindir / "zkvault").chmod(0o755)
    shell_env = {**env.vars, "PATH": f"{bindir}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    names = sorted(i.name for i in ITEMS)

    def run(*argv: str) -> list[str]:
        done = subprocess.run(argv, capture_output=True, text=True, env=shell_env, timeout=60)
        assert done.returncode == 0, done.stderr
        return sorted(line for line in done.stdout.splitlines() if line)

    zsh = (
        "compdef() { :; }\n"
        'compadd() { [[ $1 == -a ]] && print -l -- ${(P)2} || { shift; print -l -- "$@"; } }\n'
        'eval "$(zkvault completion zsh)"\n'
        'words=(zkvault rotate ""); CURRENT=3; _zkvault || true  # 1: nothing to offer\n'
    )
    fish = 'zkvault completion fish | source; complete -C "zkvault edit "\n'
    for shell in ("zsh", "fish"):
        if not _have(shell):
            pytest.skip(f"{shell} is not installed")
    assert run("zsh", "-f", "-c", zsh) == names
    assert [line.split("\t")[0] for line in run("fish", "--no-config", "-c", fish)] == names
    env.zk("lock", check=True)  # locked: no names at all
    assert run("zsh", "-f", "-c", zsh) == []
    assert run("fish", "--no-config", "-c", fish) == []


def _have(program: str) -> bool:
    return any(os.access(os.path.join(d, program), os.X_OK) for d in os.environ["PATH"].split(":"))
