"""`get` and `git-credential` load only what they need (the 60 ms budget, docs/cli.md).

Timing on a shared machine is noisy; the set of modules loaded is not. Compared with a
bare interpreter start, the `get` path may add only zkvault's own small modules, json
and _socket: no argparse, typing, socket wrapper, vault_core, nacl or HTTP client.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.native.support import REPO, Env, VaultFile

# What the console script pip generated for `zkvault` ran (the path, not the start-up).
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


def test_without_site_hot_paths_load_no_json_re_or_os(env: Env, unlocked: VaultFile) -> None:
    # json imports re (and enum, functools, collections), and os its _collections_abc:
    # with site they came for free, without it they were most of what the helper added
    # to the bare interpreter.
    got = _without_site(env, "get", "github")
    assert got.returncode == 0 and got.stdout.strip(), got.stderr
    helper = _without_site(
        env, "git-credential", "get", stdin="protocol=https\nhost=github.com\n\n"
    )
    assert helper.returncode == 0 and "password=" in helper.stdout, helper.stderr
    for done in (got, helper):
        assert not _loaded(done) & {"json", "re", "enum", "functools", "collections", "os"}
    as_json = _without_site(env, "get", "github", "--json")  # json only to print it
    assert as_json.returncode == 0 and "json" in _loaded(as_json), as_json.stderr


def test_without_site_other_commands_load_it_themselves(env: Env, unlocked: VaultFile) -> None:
    listed = _without_site(env, "list", "--json")  # argparse: site is loaded first
    assert listed.returncode == 0 and '"github"' in listed.stdout, listed.stderr
    assert "site" in _loaded(listed)
    env.zk("lock", check=True)
    status = _without_site(env, "status")  # the locked report reads the sealed state (nacl)
    assert status.returncode == 3 and "Traceback" not in status.stderr, status.stderr
    got = _without_site(env, "get", "github")  # locked: the state is read to say why
    assert got.returncode == 3 and "Traceback" not in got.stderr, got.stderr


# --- the `zkvault` command itself: bin/zkvault (pip) and the dev launcher (bootstrap) ------

LAUNCHER = REPO / "bin" / "zkvault"


def _run(
    command: str, env: Env, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    # PYTHONPROFILEIMPORTTIME: -X importtime cannot be passed through a launcher.
    return subprocess.run(
        [command, *args],
        env={**env.vars, "PYTHONPROFILEIMPORTTIME": "1"},
        cwd=env.root,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def _check_launcher(command: str, env: Env) -> None:
    got = _run(command, env, "get", "github")
    assert got.returncode == 0 and got.stdout.strip(), got.stderr
    assert "site" not in _loaded(got) and "nacl" not in _loaded(got)
    helper = _run(
        command, env, "git-credential", "get", stdin="protocol=https\nhost=github.com\n\n"
    )
    assert helper.returncode == 0 and "password=" in helper.stdout
    assert "site" not in _loaded(helper)
    listed = _run(command, env, "list", "--json")  # argparse and nacl: site is loaded first
    assert listed.returncode == 0 and '"github"' in listed.stdout, listed.stderr
    assert "site" in _loaded(listed)


def test_the_dev_venv_command_starts_without_site(env: Env, unlocked: VaultFile) -> None:
    """scripts/bootstrap.sh writes .venv/bin/zkvault: this checkout's package, no site."""
    command = Path(sys.executable).parent / "zkvault"
    assert command.read_text().startswith("#!/bin/sh\nexec "), "rerun scripts/bootstrap.sh"
    _check_launcher(str(command), env)


def _wheel(out: Path) -> Path:
    """A wheel of the packages `zkvault` needs, with bin/zkvault as its script, laid out as
    setuptools builds it (script-files in pyproject.toml). Built by hand: a PEP 517 build
    needs setuptools, which pip fetches from the index and this test may not."""
    wheel = out / "zkvault-0.1.0-py3-none-any.whl"
    info = "zkvault-0.1.0.dist-info"
    names = []
    with zipfile.ZipFile(wheel, "w") as archive:
        for package in ("native", "vault_core"):
            for path in sorted((REPO / package).rglob("*.py")):
                name = str(path.relative_to(REPO))
                archive.write(path, name)
                names.append(name)
        script = "zkvault-0.1.0.data/scripts/zkvault"
        archive.write(LAUNCHER, script)
        names.append(script)
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: zkvault\nVersion: 0.1.0\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        names += [f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD"]
        archive.writestr(f"{info}/RECORD", "".join(f"{name},,\n" for name in names))
    return wheel


def test_a_regular_pip_install_starts_without_site(env: Env, unlocked: VaultFile) -> None:
    """`pip install` (not editable) into a fresh venv installs bin/zkvault as it is, and
    that finds the package in the venv's site-packages without site; commands that need
    third-party modules still load site (here a .pth lends them this venv's)."""
    venv = env.root / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--no-index", "--no-deps", str(_wheel(env.root))],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    command = venv / "bin" / "zkvault"
    assert command.read_bytes() == LAUNCHER.read_bytes()
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_packages = subprocess.run(
        [str(venv / "bin" / "python"), "-c", purelib], capture_output=True, text=True, check=True
    ).stdout.strip()
    ours = sysconfig.get_path("purelib")
    (Path(site_packages) / "lend.pth").write_text(ours + "\n")
    _check_launcher(str(command), env)
