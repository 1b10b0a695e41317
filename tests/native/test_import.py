"""``zkvault import``: plaintext tokens written where real git, curl's .netrc, gh and a
project's .env put them, in a temporary HOME, moved into the vault through the real agent
and server; git then still clones and pushes through the helper, and nothing is left in
plaintext. Also: a kill at each step loses nothing and duplicates nothing; exports of
Bitwarden and 1Password; `--json` on connect, git setup and runner enroll."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from native.api import b64url_decode, b64url_encode
from tests.native import support
from tests.native.gitserver import GitServer
from tests.native.otheruser import as_other_user
from tests.native.serverproc import Owner, Server
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, REPO, Env, git
from tests.unit.token_format_checks import samples
from vault_core import Vault, fingerprint

pytestmark = pytest.mark.slow

TOKENS = {name: token for name, token in samples(7)}
GIT_TOKEN = TOKENS["gitlab-pat"]  # what the local git server accepts
GHO = TOKENS["github-oauth"]
GHP = TOKENS["github-classic-pat"]
NETRC_PASSWORD = "curl-netrc-password-77"
ALL = [GIT_TOKEN, GHO, GHP, NETRC_PASSWORD]


@dataclass
class World:
    env: Env
    owner: Owner
    git: GitServer
    home: Path
    work: Path  # a clone whose remote URL carried the token

    def saved(self) -> dict[str, list[str]]:
        """secret -> names of the items holding it, in the vault the server holds now."""
        blob = b64url_decode(self.owner.call("GET", "/api/vault").json()["blob"])
        vault = Vault.open(blob, PASSPHRASE, account_id=uuid.UUID(self.owner.account_id))
        held: dict[str, list[str]] = {}
        try:
            for info in vault.items():
                held.setdefault(vault.get(info.id).secret, []).append(info.name)
        finally:
            vault.lock()
        return held

    def revision(self) -> int:
        return int(self.owner.call("GET", "/api/vault").json()["revision"])

    def plaintext(self) -> dict[str, list[str]]:
        """secret -> files under HOME that hold it."""
        where: dict[str, list[str]] = {}
        for path in self.home.rglob("*"):
            if path.is_file() and not path.is_symlink() and "objects" not in path.parts:
                data = path.read_bytes()
                for secret in ALL:
                    if secret.encode() in data:
                        where.setdefault(secret, []).append(str(path.relative_to(self.home)))
        return where


def zk_json(env: Env, *args: str) -> tuple[int, dict[str, Any], str]:
    done = env.zk(*args, "--json", timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    for secret in ALL:
        assert secret not in done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def connect(env: Env, owner: Owner, url: str) -> dict[str, Any]:
    proc, code, _ = support.start_pairing(
        env, "connect", "--server", url, "--name", "laptop", "--json", show=r"code (\S+) "
    )
    owner.approve(code, name="work laptop")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return dict(json.loads(out))


@pytest.fixture
def world(env: Env, server: Server) -> Iterator[World]:
    owner = Owner(server)
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
    for item in ITEMS:
        vault.add(item)
    owner.put_vault(0, vault.save())
    vault.lock()
    connected = connect(env, owner, server.url)
    assert connected["ok"] is True and connected["machine"] == "work laptop", connected
    assert connected["revision"] == 1 and connected["account_id"] == owner.account_id
    assert env.unlock().returncode == 0

    repos = env.root / "repos"
    repos.mkdir()
    assert git(env, "init", "-q", "--bare", "-b", "main", str(repos / "proj.git")).returncode == 0
    home = Path(env.vars["HOME"])
    with GitServer(repos, GIT_TOKEN) as srv:
        base = srv.url.removesuffix("/")
        proto, _, hostport = base.partition("://")
        # git's own store helper, filled by git after a push (what `git credential approve`
        # does for it), and a clone whose remote URL carries the token.
        assert git(env, "config", "--global", "credential.helper", "store").returncode == 0
        approved = subprocess.run(
            ["git", "credential", "approve"],
            input=f"protocol={proto}\nhost={hostport}\nusername=bob\npassword={GIT_TOKEN}\n\n",
            env=env.vars,
            capture_output=True,
            text=True,
            check=False,
        )
        assert approved.returncode == 0, approved.stderr
        seed = home / "code" / "seed"
        assert git(env, "init", "-q", "-b", "main", str(seed)).returncode == 0
        (seed / "README").write_text("hello\n")
        for args in (
            ("add", "README"),
            ("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "seed"),
            ("push", "-q", f"{proto}://bob:{GIT_TOKEN}@{hostport}/proj.git", "main"),
        ):
            done = git(env, *args, cwd=seed)
            assert done.returncode == 0, done.stderr
        work = home / "code" / "work"
        done = git(env, "clone", "-q", f"{proto}://bob:{GIT_TOKEN}@{hostport}/proj.git", str(work))
        assert done.returncode == 0, done.stderr
        (home / ".netrc").write_text(
            f"machine api.example.com\n  login carol\n  password {NETRC_PASSWORD}\n"
        )
        (home / ".netrc").chmod(0o600)
        gh = home / ".config" / "gh"
        gh.mkdir(parents=True)
        (gh / "hosts.yml").write_text(
            f"github.com:\n    users:\n        bob:\n            oauth_token: {GHO}\n"
            f"    git_protocol: https\n    oauth_token: {GHO}\n    user: bob\n"
        )
        (work / ".env").write_text(f"DEBUG=1\nGITHUB_TOKEN={GHP}\n")
        yield World(env, owner, srv, home, work)


def test_import_moves_every_plaintext_token_and_git_still_works(world: World) -> None:
    env, home = world.env, world.home
    scanned = env.zk("scan", str(home), "--json")
    assert scanned.returncode == 20
    assert {f["source"] for f in json.loads(scanned.stdout)["findings"]} == {
        "git-credentials",
        "git-config",
        "gh",
        "netrc",
        "env",
    }
    before = world.revision()
    files_before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}

    code, dry, _ = zk_json(env, "import", str(home), "--dry-run")
    assert code == 0 and dry["dry_run"] is True
    by_secret_count = {i["name"]: i for i in dry["items"]}
    assert len(dry["items"]) == 4, dry  # one per secret, wherever it lies
    git_item = next(i for i in dry["items"] if i["kind"] == "gitlab")
    assert {p["source"] for p in git_item["found_in"]} == {"git-credentials", "git-config"}
    assert all(i["status"] == "would-import" for i in dry["items"]), by_secret_count
    assert world.revision() == before  # a dry run changes nothing
    assert files_before == {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    text = env.zk("import", str(home), "--dry-run")
    assert "would import" in text.stdout and GIT_TOKEN not in text.stdout + text.stderr

    moved = env.zk("import", str(home), "--remove-plaintext", timeout=120)
    assert moved.returncode == 0, moved.stderr
    for secret in ALL:
        assert secret not in moved.stdout + moved.stderr
    held = world.saved()
    for secret in ALL:
        assert len(held.get(secret, [])) == 1, secret  # each once, in the saved vault
    assert world.plaintext() == {}  # no plaintext copy left anywhere under HOME
    rescan = env.zk("scan", str(home), "--json")
    assert rescan.returncode == 0 and json.loads(rescan.stdout)["found"] == 0, rescan.stdout
    assert "# GITHUB_TOKEN: moved to the zkvault item" in (world.work / ".env").read_text()

    # git: the store helper is gone (it would write the token back), zkvault answers.
    helpers = git(env, "config", "--global", "--get-all", "credential.helper").stdout
    assert "store" not in helpers and "git-credential" in helpers
    assert "@" not in git(env, "remote", "get-url", "origin", cwd=world.work).stdout
    clone = world.home / "code" / "again"
    base = world.git.url.removesuffix("/")
    done = git(env, "clone", "-q", f"{base}/proj.git", str(clone))
    assert done.returncode == 0, done.stderr
    (world.work / "NEW").write_text("x\n")
    for args in (
        ("add", "NEW"),
        ("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "more"),
        ("push", "-q", "origin", "main"),
    ):
        done = git(env, *args, cwd=world.work)
        assert done.returncode == 0, done.stderr
    assert world.plaintext() == {}  # git's push stored nothing back

    # The files rewritten keep their owner-only permissions: another user reads nothing.
    for name in (".git-credentials", ".netrc"):
        path = home / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    # The directories above are opened for traversal only, so that the files' own modes
    # are what stops the other user (a control file of mode 0644 proves the probe reads).
    prefix = as_other_user()
    control = home / "control"
    control.write_text("readable\n")
    control.chmod(0o644)
    opened = [world.env.root, home]
    modes = [stat.S_IMODE(d.stat().st_mode) for d in opened]
    try:
        for directory in opened:
            directory.chmod(0o711)
        for name, readable in ((".git-credentials", False), (".netrc", False), ("control", True)):
            other = subprocess.run(
                [*prefix, "cat", str(home / name)], capture_output=True, text=True, check=False
            )
            assert (other.returncode == 0) is readable, (name, other.stderr)
    finally:
        for directory, mode in zip(opened, modes, strict=True):
            directory.chmod(mode)

    # Run again: everything is there already; nothing is added twice.
    revision = world.revision()
    code, again, _ = zk_json(env, "import", str(home), "--remove-plaintext")
    assert code == 0 and again["items"] == [] and world.revision() == revision


@pytest.mark.parametrize("step", ["imported", "read back", "removed"])
def test_a_kill_at_any_step_loses_nothing_and_a_rerun_finishes(world: World, step: str) -> None:
    """Killed as soon as it says it made ``step``: every secret is then in the saved vault
    or still in every place it was, and a rerun ends with each once in the vault and no
    plaintext left."""
    env, home = world.env, world.home
    places = world.plaintext()
    proc = subprocess.Popen(
        [sys.executable, "-m", "native", "import", str(home), "--remove-plaintext"],
        env=env.vars,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:
        seen += line
        if line.startswith(step):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert step in seen, seen + (proc.stderr.read() if proc.stderr else "")
    held = world.saved()
    now = world.plaintext()
    for secret in ALL:
        assert len(held.get(secret, [])) <= 1, secret  # never twice
        if secret not in held:  # not saved yet: every plaintext copy is still there
            assert sorted(now.get(secret, [])) == sorted(places[secret]), secret
    rerun = env.zk("import", str(home), "--remove-plaintext", timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    held = world.saved()
    assert all(len(held.get(secret, [])) == 1 for secret in ALL), held.keys()
    assert world.plaintext() == {}


def test_exports_of_bitwarden_and_1password(world: World, tmp_path: Path) -> None:
    env = world.env
    bitwarden = tmp_path / "bw.json"
    bitwarden.write_text(
        json.dumps(
            {
                "encrypted": False,
                "folders": [],
                "items": [
                    {
                        "type": 1,
                        "name": "GitHub CI",
                        "login": {
                            "username": "bob",
                            "password": GHP,
                            "uris": [{"uri": "https://github.com/org"}],
                        },
                        "notes": "not imported",
                    },
                    {"type": 2, "name": "a secure note", "notes": "x", "secureNote": {}},
                    {"type": 1, "name": "again", "login": {"password": GHO, "uris": []}},
                ],
            }
        )
    )
    onepassword = tmp_path / "1p.csv"
    onepassword.write_text(
        "Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\n"
        f'"Registry, prod",https://registry.example.com,ci,{NETRC_PASSWORD},,false,false,,\n'
        f"dup,https://github.com,,{GHP},,false,false,,\n"
        "empty,https://x.example,,,,false,false,,\n"
    )
    code, dry, _ = zk_json(env, "import", "--from", "bitwarden-json", str(bitwarden), "--dry-run")
    assert code == 0 and [i["name"] for i in dry["items"]] == ["GitHub CI", "again"]
    assert dry["items"][0]["kind"] == "github" and dry["items"][0]["host"] == "github.com"
    assert dry["skipped"] == [{"title": "a secure note", "why": "no password (not a login)"}]

    code, done, _ = zk_json(env, "import", "--from", "bitwarden-json", str(bitwarden))
    assert code == 0 and [i["status"] for i in done["items"]] == ["imported", "imported"], done
    code, csv_done, _ = zk_json(env, "import", "--from", "1password-csv", str(onepassword))
    assert code == 0, csv_done
    statuses = {i["name"]: (i["status"], i["existing"]) for i in csv_done["items"]}
    assert statuses == {
        "Registry, prod": ("imported", []),
        "dup": ("duplicate", ["GitHub CI"]),  # the same secret: named, not added again
    }
    assert csv_done["skipped"] == [{"title": "empty", "why": "no password"}]
    held = world.saved()
    assert held[GHP] == ["GitHub CI"] and held[NETRC_PASSWORD] == ["Registry, prod"]
    assert env.zk("get", "Registry, prod", "--field", "username").stdout == "ci\n"

    encrypted = tmp_path / "enc.json"
    encrypted.write_text(json.dumps({"encrypted": True, "items": []}))
    refused = env.zk("import", "--from", "bitwarden-json", str(encrypted), "--json")
    assert refused.returncode == 2 and json.loads(refused.stdout)["error"] == "encrypted_export"


def test_old_import_is_adopt_and_still_works_as_an_alias(env: Env, vault_file: Any) -> None:
    account = str(vault_file.account_id)
    done = env.zk("import", str(vault_file.path), "--account-id", account, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["ok"] is True, done.stderr
    assert "now `zkvault adopt`" in done.stderr
    again = env.zk("adopt", str(vault_file.path), "--account-id", account)
    assert again.returncode == 0 and again.stdout.startswith("adopted vault revision")


def test_a_locked_dry_run_lists_and_a_real_import_needs_the_agent(env: Env) -> None:
    home = Path(env.vars["HOME"])
    (home / ".git-credentials").write_text(f"https://bob:{GHP}@github.com\n")
    code, dry, _ = zk_json(env, "import", "--dry-run")
    assert code == 0 and [(i["name"], i["kind"]) for i in dry["items"]] == [
        ("github.com (bob)", "github")
    ]
    done = env.zk("import", "--remove-plaintext")
    assert done.returncode == 3 and GHP in (home / ".git-credentials").read_text()


def test_git_setup_and_runner_enroll_answer_in_json(world: World, server: Server) -> None:
    code, setup, _ = zk_json(world.env, "git", "setup")
    assert (
        code == 0 and setup["scope"] == "global" and "git-credential" in setup["credential_helper"]
    )
    runner_env = support.make_env()
    try:
        vault = Vault.create(uuid.UUID(world.owner.account_id), PASSPHRASE, kdf=FAST_KDF)
        proc, code_shown, _ = support.start_pairing(
            runner_env,
            *("runner", "enroll", "--name", "ci", "--server", server.url, "--json"),
            *("--owner-fingerprint", fingerprint("owner-grant", vault.owner_verify_key)),
            show=r"enter the code (\S+) ",
        )
        world.owner.approve(code_shown, grant_public_key=b64url_encode(vault.owner_verify_key))
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        answer = json.loads(out)
        assert answer["ok"] is True and answer["name"] == "ci"
        assert answer["credential"].startswith("zkvr1.") and answer["owner_fingerprint"]
        vault.lock()
    finally:
        support.stop_agent(runner_env)


def test_shells_complete_import_and_the_new_json_flags() -> None:
    zk = f'zkvault() {{ "{sys.executable}" -m native "$@"; }}\n'
    bash = (
        zk + 'eval "$(zkvault completion bash)"\n'
        'COMP_WORDS=(zkvault import --from b); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault import --d); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault ad); COMP_CWORD=1; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault connect --j); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault runner enroll --j); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
    )
    done = subprocess.run(["bash", "-c", bash], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == [
        "bitwarden-json",
        "--dry-run",
        "adopt add",
        "--json",
        "--json",
    ]
    zsh = (
        zk + "compdef() { :; }\n"
        'compadd() { [[ $1 == -a ]] && print -l -- ${(P)2} || { shift; print -l -- "$@"; } }\n'
        'eval "$(zkvault completion zsh)"\n'
        'words=(zkvault import --from ""); CURRENT=4; _zkvault\n'
        "words=(zkvault import --re); CURRENT=3; _zkvault | grep -x -- --remove-plaintext\n"
    )
    fish = (
        f'function zkvault; "{sys.executable}" -m native $argv; end\n'
        'zkvault completion fish | source; complete -C "zkvault import --from "\n'
        'complete -C "zkvault import --dry"\n'
    )
    for shell, script, want in (
        ("zsh", zsh, ["bitwarden-json", "1password-csv", "--remove-plaintext"]),
        ("fish", fish, ["1password-csv", "bitwarden-json", "--dry-run"]),
    ):
        if not any(
            os.access(os.path.join(d, shell), os.X_OK) for d in os.environ["PATH"].split(":")
        ):
            pytest.skip(f"{shell} is not installed")
        args = (
            [shell, "-f", "-c", script] if shell == "zsh" else [shell, "--no-config", "-c", script]
        )
        got = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=REPO)
        lines = [line.split("\t")[0] for line in got.stdout.splitlines() if line]
        assert lines == want, (shell, got.stdout, got.stderr)


def test_a_server_that_serves_the_old_vault_back_gets_nothing_removed(env: Env) -> None:
    """The read-back is of the vault the server saved: a server that took the adds but
    answers the read-back with the revision before them fails the check, and then no
    plaintext is removed and git's helpers stay as they were."""
    from tests.hostile.lies import vault_blob
    from tests.native.serverproc import start_server
    from tests.support import processes
    from tests.support.httpproxy import HttpProxy

    port = processes.free_port()
    proxy = HttpProxy(f"http://127.0.0.1:{port}")
    server = start_server(port, public_url=proxy.url)
    try:
        owner = Owner(
            dataclasses.replace(server, url=f"http://127.0.0.1:{port}"), public_url=proxy.url
        )
        vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
        for item in ITEMS:
            vault.add(item)
        first = vault.save()
        owner.put_vault(0, first)
        vault.lock()
        connect(env, owner, proxy.url)
        assert env.unlock().returncode == 0
        home = Path(env.vars["HOME"])
        assert git(env, "config", "--global", "credential.helper", "store").returncode == 0
        store = home / ".git-credentials"
        # One token the vault holds already (verified in any revision), one it does not.
        plain = f"https://bob:{GHP}@github.com\nhttps://x:{ITEMS[0].secret}@git.example.org\n"
        store.write_text(plain)
        store.chmod(0o600)
        with proxy.telling(vault_blob("the vault before the import", lambda _blob: first)):
            code, out, stderr = zk_json(env, "import", "--remove-plaintext")
        assert code == 1 and out["error"] == "not_verified", (out, stderr)
        got = [(i["status"], i["verified"]) for i in out["items"]]
        assert got == [("imported", False), ("duplicate", True)], got
        assert out["removed"] == 0 and out["git"] == []
        assert store.read_text() == plain  # nothing removed, not even the verified one
        helpers = git(env, "config", "--global", "--get-all", "credential.helper").stdout
        assert helpers == "store\n"  # git as it was
        assert world_saved(owner)[GHP] == ["github.com (bob)"]  # the add itself was saved
    finally:
        proxy.cut()
        server.stop()


def world_saved(owner: Owner) -> dict[str, list[str]]:
    blob = b64url_decode(owner.call("GET", "/api/vault").json()["blob"])
    vault = Vault.open(blob, PASSPHRASE, account_id=uuid.UUID(owner.account_id))
    held: dict[str, list[str]] = {}
    try:
        for info in vault.items():
            held.setdefault(vault.get(info.id).secret, []).append(info.name)
    finally:
        vault.lock()
    return held
