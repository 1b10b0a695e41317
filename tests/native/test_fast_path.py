"""`get` and `git-credential` load only what they need (the 60 ms budget, docs/cli.md).

Timing on a shared machine is noisy; the set of modules loaded is not. Compared with a
bare interpreter start, the `get` path may add only zkvault's own small modules, json
and _socket: no argparse, typing, socket wrapper, vault_core, nacl or HTTP client.
"""

from __future__ import annotations

import subprocess
import sys

from tests.native.support import REPO, Env, VaultFile

# Exactly what the installed `zkvault` script runs.
ENTRY = "import sys; from native.cli import main; sys.exit(main())"
ALLOWED_PREFIXES = ("native", "json", "_json", "_socket")


def _modules(env: Env, code: str, *args: str, stdin: str | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        env=env.vars,
        cwd=REPO,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=30,
        check=False,
    )
    return {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    } - {"package"}


def _extra(env: Env, *args: str, stdin: str | None = None) -> set[str]:
    baseline = _modules(env, "pass")
    loaded = _modules(env, ENTRY, *args, stdin=stdin)
    return {m for m in loaded - baseline if not m.startswith(ALLOWED_PREFIXES)}


def test_get_path_imports_only_what_it_needs(env: Env, unlocked: VaultFile) -> None:
    assert _extra(env, "get", "github") == set()
    assert _extra(env, "get", "github", "--json") == set()


def test_credential_helper_path_imports_only_what_it_needs(env: Env, unlocked: VaultFile) -> None:
    request = "protocol=https\nhost=github.com\n\n"
    assert _extra(env, "git-credential", "get", stdin=request) == set()


def test_the_check_itself_can_fail(env: Env, unlocked: VaultFile) -> None:
    # `list` goes through argparse: the same comparison must notice it.
    assert "argparse" in _extra(env, "list")


def test_run_path_skips_argparse_and_crypto(env: Env, unlocked: VaultFile) -> None:
    extra = _extra(env, "run", "--env", "T=github", "--", "true")
    assert not extra & {"argparse", "vault_core", "nacl", "urllib.request", "http.client"}


FAST = str(REPO / "native" / "fast.py")


def _without_site(
    env: Env, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """native/fast.py under ``python -S``, as `zkvault git setup`'s helper runs it, from a
    directory where nothing of the repository is importable by accident."""
    return subprocess.run(
        [sys.executable, "-S", "-X", "importtime", FAST, *args],
        env=env.vars,
        cwd=env.root,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def _loaded(done: subprocess.CompletedProcess[str]) -> set[str]:
    return {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_without_site_the_hot_paths_answer_and_load_no_site(env: Env, unlocked: VaultFile) -> None:
    got = _without_site(env, "get", "github")
    assert got.returncode == 0 and got.stdout.strip(), got.stderr
    assert "site" not in _loaded(got) and "nacl" not in _loaded(got)
    helper = _without_site(
        env, "git-credential", "get", stdin="protocol=https\nhost=github.com\n\n"
    )
    assert helper.returncode == 0 and "password=" in helper.stdout
    assert "site" not in _loaded(helper)


def test_without_site_other_commands_load_it_themselves(env: Env, unlocked: VaultFile) -> None:
    listed = _without_site(env, "list", "--json")  # argparse: site is loaded first
    assert listed.returncode == 0 and '"github"' in listed.stdout, listed.stderr
    assert "site" in _loaded(listed)
    env.zk("lock", check=True)
    status = _without_site(env, "status")  # the locked report reads the sealed state (nacl)
    assert status.returncode == 3 and "Traceback" not in status.stderr, status.stderr
    got = _without_site(env, "get", "github")  # locked: the state is read to say why
    assert got.returncode == 3 and "Traceback" not in got.stderr, got.stderr
