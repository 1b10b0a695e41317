"""``zkvault scan`` over a generated tree of 100,000 files, against grep and ripgrep.

    .venv/bin/python benchmarks/scan.py [--files N] [--runs R] [--tree DIR]

Generates a tree like a developer's home or a large monorepo (text files of 0.2 to 4 KB
in nested directories, git repositories with an object store, node_modules, some binary
files, and a few planted tokens), then times, in the same run and on the same tree:

- ``zkvault scan --json TREE`` (the real CLI, one process per run);
- ``rg`` (ripgrep), if it is installed, with the union of the token prefixes followed by
  16 or more token characters, hidden files included, .git and node_modules excluded;
- ``grep -rIE`` (GNU grep) with the same expression and exclusions.

The regular expressions differ (zkvault's are exact per format, with boundaries; the
others a loose prefix match), so the comparison is of cost, not of results: the table
shows what each found. Each row gives the wall time and the CPU time (user + system) of
the process: on a machine shared with other work, the wall time waits for a core, the CPU
time much less so. Prints a table; figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.token_format_checks import samples  # noqa: E402
from vault_core.token_formats import PREFIXES  # noqa: E402

WORDS = [
    "def",
    "return",
    "import",
    "class",
    "self",
    "value",
    "config",
    "build",
    "test",
    "item",
    "token",
    "name",
    "path",
]
LOOSE = "(" + "|".join(sorted(PREFIXES)) + ")[A-Za-z0-9_=.-]{16,}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def generate(root: Path, files: int, seed: int = 1) -> int:
    """Write ``files`` files under ``root``; returns how many tokens were planted."""
    rng = random.Random(seed)
    tokens = [token for _name, token in samples(seed)]
    planted = 0
    written = 0
    d = 0
    while written < files:
        d += 1
        base = root / f"p{d // 100}" / f"d{d}"
        kind = d % 50
        if kind == 0:  # a git repository: config and an object store of binary files
            git = base / ".git"
            (git / "objects" / "ab").mkdir(parents=True)
            (git / "config").write_text(
                '[core]\n\tbare = false\n[remote "origin"]\n\turl = https://github.com/x/y\n'
            )
            for i in range(20):
                (git / "objects" / "ab" / f"{i:038x}").write_bytes(rng.randbytes(300))
            written += 21
        elif kind == 1:  # node_modules
            nm = base / "node_modules" / "pkg"
            nm.mkdir(parents=True)
            for i in range(40):
                (nm / f"f{i}.js").write_text("module.exports = 1;\n" * 20)
            written += 40
        base.mkdir(parents=True, exist_ok=True)
        for i in range(100):
            if written >= files:
                break
            path = base / f"f{i}.txt"
            if rng.random() < 0.01:
                path.write_bytes(b"\0" + rng.randbytes(2000))
            else:
                lines = [
                    " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12)))
                    for _ in range(rng.randrange(4, 80))
                ]
                if rng.random() < 0.0003:
                    lines.insert(1, f"TOKEN = '{tokens[planted % len(tokens)]}'")
                    planted += 1
                path.write_text("\n".join(lines) + "\n")
            written += 1
    return planted


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(median wall seconds, median CPU seconds, the last run's output)."""
    times, cpu = [], []
    out = ""
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), _children_cpu()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - started)
        cpu.append(_children_cpu() - cpu_before)
        out = done.stdout
    return statistics.median(times), statistics.median(cpu), out


def _count(out: str) -> int:
    """The sum of ``FILE:COUNT`` lines (rg -c, grep -c)."""
    return sum(int(line.rsplit(":", 1)[1]) for line in out.splitlines() if ":" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", type=Path, help="generate into DIR, or reuse it if it exists")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zkscan") as tmp:
        tree = args.tree or Path(tmp) / "tree"
        started = time.perf_counter()
        reused = tree.exists()
        planted = "reused tree" if reused else f"{generate(tree, args.files)} planted tokens"
        size = sum(
            os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(tree) for f in names
        )
        print(
            f"tree: {args.files:,} files, {size / 1e6:.0f} MB, {planted}, "
            f"ready in {time.perf_counter() - started:.1f} s"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": tmp}
        rows = []
        # Warm the page cache once, so every tool reads from memory.
        subprocess.run(["grep", "-rqI", "zzzz-no-match", str(tree)], check=False)
        seconds, cpu, out = timed(
            [sys.executable, "-m", "native", "scan", "--json", str(tree)], args.runs, env
        )
        data = json.loads(out)
        rows.append(
            (
                "zkvault scan",
                seconds,
                cpu,
                f"{data['found']} findings, {data['files_scanned']:,} files read",
            )
        )
        rg = shutil.which("rg")
        if rg:
            rg_cmd = [rg, "-c", "--hidden", "--no-ignore", "-g", "!.git", "-g", "!node_modules"]
            seconds, cpu, out = timed([*rg_cmd, "-e", LOOSE, str(tree)], args.runs)
            rows.append(("rg (ripgrep)", seconds, cpu, f"{_count(out)} matching lines"))
        else:
            rows.append(("rg (ripgrep)", float("nan"), float("nan"), "not installed"))
        seconds, cpu, out = timed(
            ["grep", "-rIcE", "--exclude-dir=.git", "--exclude-dir=node_modules", LOOSE, str(tree)],
            args.runs,
        )
        rows.append(("grep -rIE", seconds, cpu, f"{_count(out)} matching lines"))
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print(f"median of {args.runs} runs, page cache warm, load {os.getloadavg()[0]:.1f}\n")
    print("| tool | wall s | CPU s | files/s (wall) | what it found |")
    print("|---|---|---|---|---|")
    for name, seconds, cpu, found in rows:
        rate = f"{args.files / seconds:,.0f}" if seconds == seconds else "–"
        shown = f"{seconds:.2f}" if seconds == seconds else "–"
        cpu_shown = f"{cpu:.2f}" if cpu == cpu else "–"
        print(f"| {name} | {shown} | {cpu_shown} | {rate} | {found} |")


if __name__ == "__main__":
    main()
