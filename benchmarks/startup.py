"""Start-up of the hot paths with and without ``site``: ``python benchmarks/startup.py``.

In one run, round-robin (each round runs every command once, in turn, the order rotated
each round, so that load from other processes on a shared machine hits them alike), with
real processes, an agent and a git server on this machine:

- ``python -c pass`` and ``python -S -c pass`` in this venv: the interpreter with and
  without ``site``;
- ``zkvault get NAME`` started the old way ("before", below) and through the installed
  ``zkvault`` command (bin/zkvault, or in this checkout's venv the launcher
  scripts/bootstrap.sh writes: ``-S`` on native/fast.py); with ``--also VENV`` the same
  two and ``python -c pass`` for a regular (non-editable) install in VENV;
- ``git ls-remote`` against a local git http-backend that demands the token, with three
  credential helpers: as `zkvault git setup` wrote it before (the shell wrapper around
  the "before" script, ``'.../bin/zkvault' git-credential``), as it writes it now
  (native.gitsetup.helper_command(): ``python -S .../native/fast.py git-credential``),
  and a no-op shell helper that answers the same user name and token.

"Before" is the start-up `zkvault` had until bin/zkvault replaced it (pyproject.toml up
to f818bd6^: ``[project.scripts] zkvault = "native.cli:main"``): the console script pip
generates for that entry point, written here by pip's own script maker (PipScriptMaker,
as ``pip install`` runs it) into a temporary bin/ with this venv's interpreter as its
shebang, and run with ``site``. This venv is the plain ``pip install -e`` of the
checkout that scripts/bootstrap.sh makes, so ``site`` loads the same editable-install
finder (``__editable__...pth``) it loaded then; the code behind ``native.cli:main`` is
this checkout's, so "before" and "now" differ in how Python starts only. The run checks
the generated script against the console script pip wrote for ``zkvault-server`` in the
same venv (equal but for the module name) and says so.

The helper's share of a ``git ls-remote`` is the time it adds over the no-op helper:
per round, (ls-remote with that helper) - (ls-remote with the no-op helper), median over
the rounds; git's trace2 ``child_exit`` times of the helper processes are shown beside
it. Target (issue 22): the share now at most half the share before; ``get`` <= 35 ms
median (docs/performance.md, "Start-up without site").

The children run without the caller's PYTHON* variables: an installed package runs from
cached bytecode (pip compiles it at install, an editable install writes it on first
import), and PYTHONDONTWRITEBYTECODE, set in some shells and CI, would recompile every
module of ours on every start. The warm-up round writes the bytecode.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from native.gitsetup import helper_command  # noqa: E402
from tests.native.gitserver import GitServer  # noqa: E402
from vault_core import Item, KdfParams, Vault  # noqa: E402

PASSPHRASE = "benchmark passphrase, not secret"
TOKEN = "glpat-" + "B3nchT0ken" * 3
# The entry point `zkvault` had until bin/zkvault replaced it (git show f818bd6^:pyproject.toml).
OLD_ENTRY = "zkvault = native.cli:main"
_KDF = KdfParams(ops=2, mem_kib=19456)
# One sample: wall ms, and for a git ls-remote the helper processes' ms from trace2.
Sample = tuple[float, float]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def installed_script() -> list[str]:
    script = shutil.which("zkvault") or str(Path(sys.executable).parent / "zkvault")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "native"]


def console_script(python: Path, bindir: Path) -> tuple[Path, str]:
    """The console script pip generates for OLD_ENTRY with ``python`` as its shebang, and
    how it compares with the one pip wrote for ``zkvault-server`` beside ``python``."""
    from pip._internal.operations.install.wheel import PipScriptMaker

    bindir.mkdir(parents=True, exist_ok=True)
    maker = PipScriptMaker(None, str(bindir))  # type: ignore[no-untyped-call]
    maker.executable = str(python)  # type: ignore[assignment]  # as pip sets it
    maker.clobber, maker.variants, maker.set_mode = True, {""}, True  # as pip's install
    (made,) = maker.make_multiple([OLD_ENTRY])  # type: ignore[no-untyped-call]
    text = Path(made).read_text()
    server = python.parent / "zkvault-server"
    if not server.exists():
        return Path(made), "no zkvault-server script beside it to compare with"
    expected = server.read_text().replace("from server.main import", "from native.cli import")
    same = text == expected
    return Path(made), ("same as" if same else "DIFFERENT from") + f" pip's {server.name}"


def _ms(cmd: list[str], env: dict[str, str]) -> Sample:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000, 0.0


def ls_remote(env: dict[str, str], url: str, helper: str, root: Path) -> Sample:
    """(git ls-remote wall ms, ms of the credential helper's processes in it)."""
    trace = root / f"trace-{uuid.uuid4().hex}.json"
    start = time.perf_counter()
    subprocess.run(
        ["git", "-c", "credential.helper=", "-c", f"credential.helper={helper}", "ls-remote", url],
        env={**env, "GIT_TRACE2_EVENT": str(trace)},
        capture_output=True,
        check=True,
    )
    total = (time.perf_counter() - start) * 1000
    spent = 0.0
    ids = set()
    shell = helper.removeprefix("!")  # git runs a "!..." helper as `sh -c '... ACTION'`
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        command = event.get("argv", [""])[0].rpartition(" ")[0]
        if event.get("event") == "child_start" and command == shell:
            ids.add((event["sid"], event["child_id"]))
        elif event.get("event") == "child_exit" and (event["sid"], event.get("child_id")) in ids:
            spent += event["t_rel"] * 1000
    trace.unlink()
    if not ids:
        raise SystemExit(f"git ran no credential helper for {url}: the benchmark is broken")
    return total, spent


def rounds(commands: dict[str, Callable[[], Sample]], runs: int) -> dict[str, list[Sample]]:
    for run in commands.values():
        run()  # warm the caches, write the bytecode
    out: dict[str, list[Sample]] = {name: [] for name in commands}
    names = list(commands)
    for i in range(runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            out[name].append(commands[name]())
    return out


def _p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--also", type=Path, help="a venv with a regular `pip install .`")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zks"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "GIT_", "PYTHON"))}
    env.update(
        {
            "HOME": str(root),
            "ZKVAULT_HOME": str(root / "state"),
            "ZKVAULT_KEY_DIR": str(root / "key"),
            "ZKVAULT_RUNTIME_DIR": str(root / "run"),
            "ZKVAULT_KEYRING": "off",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }
    )
    zk = installed_script()
    py = sys.executable
    before, checked = console_script(Path(py), root / "before-bin")
    now_helper = helper_command()  # what `zkvault git setup` writes in this venv now
    now_command = f"{shlex.quote(py)} -S {shlex.quote(str(REPO / 'native' / 'fast.py'))}"
    if now_command not in now_helper:
        raise SystemExit(f"git setup no longer writes {now_command}: update the benchmark")
    # Before b828c9c, git setup wrote the installed script's path in the same wrapper.
    old_helper = now_helper.replace(now_command, shlex.quote(str(before)))
    noop_helper = (
        '!f() { cat >/dev/null; case "$1" in get) '
        f"printf 'username=zkvault\\npassword=%s\\n' {TOKEN};; esac; }}; f"
    )
    repos = root / "repos"
    repos.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", str(repos / "p.git")], check=True, env=env)
    try:
        with GitServer(repos, TOKEN) as server:
            items = [Item(name="bench git", kind="git", url=server.url, secret=TOKEN)]
            items += [Item(name=f"secret-{i:02d}", kind="generic", url="", secret="v" * 40)
                      for i in range(20)]  # fmt: skip
            account = uuid.uuid4()
            vault = Vault.create(account, PASSPHRASE, kdf=_KDF)
            for item in items:
                vault.add(item)
            path = root / "vault.zkv"
            path.write_bytes(vault.save())
            vault.lock()
            subprocess.run(
                [*zk, "adopt", str(path), "--account-id", str(account)], env=env, check=True,
                capture_output=True,
            )  # fmt: skip
            subprocess.run(
                [*zk, "unlock", "--passphrase-stdin"], input=PASSPHRASE + "\n", text=True,
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            url = server.url + "/p.git"

            def proc(cmd: list[str]) -> Callable[[], Sample]:
                return lambda: _ms(cmd, env)

            def git(helper: str) -> Callable[[], Sample]:
                return lambda: ls_remote(env, url, helper, root)

            commands = {
                "python -c pass": proc([py, "-c", "pass"]),
                "python -S -c pass": proc([py, "-S", "-c", "pass"]),
                "get: before (console script)": proc([str(before), "get", "secret-07"]),
                "get: now (zkvault, -S)": proc([*zk, "get", "secret-07"]),
                "ls-remote: no-op helper": git(noop_helper),
                "ls-remote: helper before": git(old_helper),
                "ls-remote: helper now": git(now_helper),
            }
            if args.also:
                other = args.also / "bin" / "python"
                other_before, other_checked = console_script(other, root / "also-bin")
                checked += f"; in {args.also}: {other_checked}"
                commands["regular: python -c pass"] = proc([str(other), "-c", "pass"])
                commands["regular: get, before"] = proc([str(other_before), "get", "secret-07"])
                commands["regular: get, bin/zkvault"] = proc(
                    [str(args.also / "bin" / "zkvault"), "get", "secret-07"]
                )
            samples = rounds(commands, args.runs)
    finally:
        subprocess.run([*zk, "lock"], env=env, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)

    wall = {name: [t for t, _ in s] for name, s in samples.items()}
    med = {name: statistics.median(s) for name, s in wall.items()}
    print(
        f"{args.runs} rounds, {os.cpu_count()} cores ({cpu_model()}), "
        f"load {os.getloadavg()[0]:.1f} at the end; before = {before.name} "
        f"for {OLD_ENTRY!r} ({checked})"
    )
    for name, s in wall.items():
        print(f"{name:30} median {med[name]:6.1f} ms  p90 {_p90(s):6.1f}  min {min(s):6.1f}")
    get_site, get_fast = med["get: before (console script)"], med["get: now (zkvault, -S)"]
    print(
        f"get now / before: {get_fast / get_site:.2f}; "
        f"-S floor / site floor: {med['python -S -c pass'] / med['python -c pass']:.2f}; "
        f"get above its floor: {get_site - med['python -c pass']:.1f} ms before, "
        f"{get_fast - med['python -S -c pass']:.1f} ms now"
    )
    print(f"target get <= 35 ms: {'met' if get_fast <= 35 else 'MISSED'} ({get_fast:.1f} ms)")
    if args.also:
        print(
            f"regular install: bin/zkvault / console script "
            f"{med['regular: get, bin/zkvault'] / med['regular: get, before']:.2f}"
        )
    noop = samples["ls-remote: no-op helper"]
    share: dict[str, float] = {}
    traced: dict[str, float] = {}
    for which in ("before", "now"):
        pairs = samples[f"ls-remote: helper {which}"]
        # Round by round: the same round's no-op run, so that load drift cancels.
        share[which] = statistics.median(t - n for (t, _), (n, _) in zip(pairs, noop, strict=True))
        traced[which] = statistics.median(h for _, h in pairs)
        total = med[f"ls-remote: helper {which}"]
        print(
            f"helper {which:6}: adds {share[which]:6.1f} ms over the no-op helper to a "
            f"{total:6.1f} ms ls-remote ({100 * share[which] / total:4.1f} %); "
            f"its processes {traced[which]:6.1f} ms (trace2)"
        )
    print(f"no-op helper's processes {statistics.median(h for _, h in noop):.1f} ms (trace2)")
    ratio = share["now"] / share["before"]
    print(
        f"helper's share now / before: {ratio:.2f} "
        f"(trace2: {traced['now'] / traced['before']:.2f}); "
        f"target <= 0.50: {'met' if ratio <= 0.5 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
