"""CLI wall-time benchmark: ``python benchmarks/cli.py [--runs N]``.

Measures, on this machine, with real processes:
- ``zkvault get NAME`` through an unlocked agent (target <= 60 ms),
- ``zkvault run -- true`` with 20 secrets in the environment (target <= 150 ms),
- the credential helper's share of ``git ls-remote`` against a local
  http-backend server that demands the token (read from git's trace2 events),
- ``zkvault add`` and ``zkvault edit`` (a save through the agent to a real server and
  IdP on this machine, SQLite; skipped with ``--no-writes``). No target: a write is one
  PUT of the whole vault, so it grows with the vault and the server's disk.

Everything lives in a throw-away state/runtime directory; the agent is locked
at the end. Prints one line per figure and the interpreter floor beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.native.gitserver import GitServer  # noqa: E402
from vault_core import Item, KdfParams, Vault  # noqa: E402

PASSPHRASE = "benchmark passphrase, not secret"
TOKEN = "glpat-" + "B3nchT0ken" * 3


def zkvault_command() -> list[str]:
    """The installed entry point a user runs; else this interpreter with -m native."""
    script = shutil.which("zkvault") or str(Path(sys.executable).parent / "zkvault")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "native"]


def _once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def timed(cmd: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall times of ``cmd``, and of ``cmd`` minus an adjacent bare interpreter start
    (paired rounds: load from other processes on a shared machine hits both alike)."""
    floor = [sys.executable, "-c", "pass"]
    _once(cmd, env)  # warm the caches
    walls, overheads = [], []
    for _ in range(runs):
        base = _once(floor, env)
        wall = _once(cmd, env)
        walls.append(wall)
        overheads.append(wall - base)
    return walls, overheads


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (
        f"median {statistics.median(ordered):6.1f} ms  p90 {p90:6.1f} ms  min {ordered[0]:6.1f} ms"
    )


def git_helper_share(env: dict[str, str], root: Path, zk: list[str], runs: int) -> str:
    repos = root / "repos"
    repos.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", str(repos / "p.git")], check=True, env=env)
    with GitServer(repos, TOKEN) as server:
        subprocess.run([*zk, "lock"], env=env, capture_output=True, check=False)
        _make_state(root, env, [Item(name="bench git", kind="git", url=server.url, secret=TOKEN)])
        from native.gitsetup import helper_command

        helper = helper_command()  # what `zkvault git setup` configures
        totals, helpers = [], []
        for i in range(runs + 1):
            trace = root / f"trace{i}.json"
            start = time.perf_counter()
            subprocess.run(
                ["git", "-c", f"credential.helper={helper}", "ls-remote", server.url + "/p.git"],
                env={**env, "GIT_TRACE2_EVENT": str(trace)},
                capture_output=True,
                check=True,
            )
            total = (time.perf_counter() - start) * 1000
            spent = 0.0
            helper_ids = set()  # (process sid, child id); child_exit's t_rel is its duration
            for line in trace.read_text().splitlines():
                event = json.loads(line)
                if event.get("event") == "child_start" and "git-credential" in " ".join(
                    event.get("argv", [])
                ):
                    helper_ids.add((event["sid"], event["child_id"]))
                elif (
                    event.get("event") == "child_exit"
                    and (event["sid"], event.get("child_id")) in helper_ids
                ):
                    spent += event["t_rel"] * 1000
            if i:  # the first run warms caches
                totals.append(total)
                helpers.append(spent)
        t, h = statistics.median(totals), statistics.median(helpers)
        return (
            f"git ls-remote {t:6.1f} ms median, of which the credential helper "
            f"{h:6.1f} ms ({100 * h / t:4.1f} %)"
        )


def _once_with(cmd: list[str], env: dict[str, str], stdin: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, input=stdin, text=True, capture_output=True, check=True)
    return (time.perf_counter() - start) * 1000


def write_timings(
    env: dict[str, str], root: Path, zk: list[str], runs: int
) -> tuple[list[str], bool]:
    """``add`` and ``edit`` through an agent paired with a real server (a vault of 20
    items): the rows of the table, and whether both medians met the 150 ms target."""
    from tests.native.serverproc import Owner, start_server
    from tests.native.support import Env, start_pairing

    subprocess.run([*zk, "lock"], env=env, capture_output=True, check=False)
    shutil.rmtree(env["ZKVAULT_HOME"], ignore_errors=True)
    server = start_server(ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT="100000")
    try:
        owner = Owner(server)
        vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=_KDF)
        for i in range(20):
            vault.add(Item(name=f"secret-{i:02d}", kind="generic", url="", secret="v" * 40))
        owner.put_vault(0, vault.save())
        vault.lock()
        proc, code, _ = start_pairing(
            Env(root, env), "connect", "--server", server.url, show=r"enter the code (\S+) "
        )
        owner.approve(code)
        proc.communicate(timeout=60)
        subprocess.run(
            [*zk, "unlock", "--passphrase-stdin"],
            input=PASSPHRASE + "\n",
            text=True,
            env=env,
            check=True,
            capture_output=True,
        )
        add = [
            _once_with([*zk, "add", f"new-{i}", "--kind", "generic", "--secret-stdin"], env, "s")
            for i in range(runs)
        ]
        edit = [
            _once_with([*zk, "edit", "secret-07", "--note", f"note {i}"], env, "")
            for i in range(runs)
        ]
        met = max(statistics.median(add), statistics.median(edit)) <= 150
        return [
            f"zkvault add (save)        target 150 ms {summary(add)}",
            f"zkvault edit (save)       target 150 ms {summary(edit)}",
        ], met
    finally:
        subprocess.run([*zk, "lock"], env=env, capture_output=True, check=False)
        server.stop()


_KDF = KdfParams(ops=2, mem_kib=19456)


def _make_state(root: Path, env: dict[str, str], items: list[Item]) -> None:
    zk = zkvault_command()
    account = uuid.uuid4()
    vault = Vault.create(account, PASSPHRASE, kdf=_KDF)
    for item in items:
        vault.add(item)
    path = root / f"vault-{account.hex[:8]}.zkv"
    path.write_bytes(vault.save())
    vault.lock()
    shutil.rmtree(env["ZKVAULT_HOME"], ignore_errors=True)
    subprocess.run(
        [*zk, "adopt", str(path), "--account-id", str(account)],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*zk, "unlock", "--passphrase-stdin"],
        input=PASSPHRASE + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-writes", action="store_true", help="skip add and edit (a server)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zkb"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "GIT_"))}
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
    zk = zkvault_command()
    try:
        items = [
            Item(
                name=f"secret-{i:02d}", kind="generic", url="", secret=f"value-{i:02d}-" + "x" * 40
            )
            for i in range(20)
        ]
        _make_state(root, env, items)
        print(f"zkvault command: {' '.join(zk)}  ({args.runs} runs each, {os.cpu_count()} cores)")
        floor, _ = timed([sys.executable, "-c", "pass"], env, args.runs)
        print(f"interpreter start (python -c pass)      {summary(floor)}")
        get, get_own = timed([*zk, "get", "secret-07"], env, args.runs)
        print(f"zkvault get via agent     target  60 ms {summary(get)}")
        print(f"  of which above interpreter start      {summary(get_own)}")
        run, run_own = timed([*zk, "run", "--", "true"], env, args.runs)
        print(f"zkvault run, 20 secrets   target 150 ms {summary(run)}")
        print(f"  of which above interpreter start      {summary(run_own)}")
        print(git_helper_share(env, root, zk, max(5, args.runs // 3)))
        ok = statistics.median(get) <= 60 and statistics.median(run) <= 150
        if not args.no_writes:
            lines, writes_met = write_timings(env, root, zk, max(5, args.runs // 3))
            print("\n".join(lines))
            ok = ok and writes_met
        print("targets met" if ok else "TARGET MISSED")
    finally:
        subprocess.run([*zk, "lock"], env=env, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
