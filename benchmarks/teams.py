"""A team of 200 members and a full team vault, 999 items and its audit anchor (issue 19,
item 8): open, add a member, remove one.

    .venv/bin/python benchmarks/teams.py [--runs 9] [--baseline REF] [--no-browser]
                                         [--members 200] [--items 999]  [--json FILE]

Makes the team once (benchmarks/teams_support/fixture.py: a log of 200 entries, create then 199
adds, and a full team vault: 999 items and the anchor), then times, side by side in paired rounds:

  open, fresh       TeamSession.open with nothing remembered: the whole log replayed
                    (every signature checked), the key box opened, the vault verified
                    and every item decrypted and validated (a new device)
  open, remembered  the same for a client that remembers the log head it last accepted
                    (after unlock on a device that opened the team before)
  add member        TeamSession.add_member: the pinned identity checked, the key sealed to
                    the newcomer, the entry signed, and applied to the session's own state;
                    the admin's vault pins every member and newcomer beforehand (untimed,
                    pin_contact as a person pins), so the check reads some 210 contacts
  add, unlocked     the same on the personal vault just opened (untimed): the first add
                    after an unlock, which decrypts and parses the contacts' shards
  remove member     TeamSession.remove_member: a new team key sealed to the 198 others, the
                    entry signed and applied, all 999 items encrypted again and the vault
                    signed (the team is open beforehand, untimed)

natively in worker processes (this checkout's vault_core, and with --baseline REF the
vault_core of that git ref, extracted to a temporary directory: before/after in one run),
and, when /usr/bin/chromium and Playwright are present, every operation inside
Pyodide in headless Chromium (vault_core from a freshly built wheel, crypto bound as the web
worker binds it). Each round runs every operation once in every runtime, so the load of a
shared machine hits all columns of a round alike; "÷ baseline" is the median over rounds of
this checkout's time ÷ the baseline's in the same round. CPU is the worker thread's own CPU
time (time.thread_time), which other processes' load disturbs less than the wall clock.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import kdf  # noqa: E402  (build_wheel, the static server, CPU model)
from benchmarks.teams_support.fixture import build  # noqa: E402
from benchmarks.teams_support.ops import OPS  # noqa: E402

# Issue 19, item 8: (operation, where) -> ms. Opening "after unlock" is a device that
# opened the team before, so it remembers the head; "" is any runtime.
TARGETS_MS = {
    ("open_remembered", "native"): 50.0,
    ("add", ""): 300.0,
    ("add_unlocked", ""): 300.0,
    ("remove", "Chromium"): 3000.0,
}


def target(op: str, label: str) -> float | None:
    if "baseline" in label:
        return None
    for (name, where), ms in TARGETS_MS.items():
        if name == op and where in label:
            return ms
    return None


LABELS = {
    "open_fresh": "open, fresh (log + vault)",
    "open_remembered": "open, remembered head",
    "add": "add member",
    "add_unlocked": "add member, first after unlock",
    "remove": "remove member (rotation)",
}
BROWSER_OPS = ("open_fresh", "open_remembered", "add", "add_unlocked", "remove")


class Worker:
    """benchmarks/teams_support/ops.py as a long-lived process over one vault_core tree."""

    def __init__(self, label: str, source_root: Path, team_json: Path) -> None:
        self.label = label
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source_root), str(ROOT)])}
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from benchmarks.teams_support.ops import serve_stdio; serve_stdio()",
            ],
            cwd=source_root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._send(str(team_json))
        ready = self._line()
        self.contacts = f"{ready['contacts']}{' (capped)' if ready['capped'] else ''}"

    def _send(self, text: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(text + "\n")
        self._proc.stdin.flush()

    def _line(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise SystemExit(f"teams.py: the {self.label} worker exited ({self._proc.wait()})")
        data: dict[str, Any] = json.loads(line)
        return data

    def once(self, op: str) -> dict[str, Any]:
        self._send(op)
        return self._line()

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=60)


def extract(ref: str, into: Path) -> Path:
    """vault_core at ``ref`` (git archive), in a tree of its own."""
    archive = into / "baseline.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), ref, "vault_core"], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into / "baseline", filter="data")
    return into / "baseline"


@contextlib.contextmanager
def chromium(wheel: Path, team_json: Path) -> Iterator[Any]:
    """Yields an object with runtime and once(op), or a reason string."""
    if not Path(kdf.CHROMIUM).exists():
        yield f"skipped: {kdf.CHROMIUM} not installed"
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield "skipped: Python Playwright not installed"
        return
    with kdf._server(wheel) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=kdf.CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{base}/benchmarks/teams_browser.html?wheel=/wheel/{wheel.name}")
            page.wait_for_function("window.teamsBench || window.teamsError", timeout=300_000)
            error = page.evaluate("window.teamsError")
            if error:
                raise SystemExit(f"teams.py: the Chromium page failed:\n{error}")
            page.evaluate("text => window.teamsBench.setup(text)", team_json.read_text())
            pinned = page.evaluate("op => window.teamsBench.once(op)", "contacts")

            class Page:
                label = f"Pyodide in Chromium {browser.version}"
                contacts = f"{pinned['contacts']}{' (capped)' if pinned['capped'] else ''}"

                @staticmethod
                def once(op: str) -> dict[str, Any]:
                    result: dict[str, Any] = page.evaluate("op => window.teamsBench.once(op)", op)
                    return result

            yield Page
        finally:
            browser.close()


def measure(runtimes: list[Any], runs: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """results[runtime label][op] = one sample per round (after one warm-up round)."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {r.label: {} for r in runtimes}
    for round_no in range(runs + 1):
        for op in OPS:
            for runtime in runtimes:
                if "Chromium" in runtime.label and op not in BROWSER_OPS:
                    continue
                sample = runtime.once(op)
                if round_no:  # round 0 warms up caches, JITs and allocators
                    results[runtime.label].setdefault(op, []).append(sample)
        print(f"round {round_no}/{runs} done", file=sys.stderr, flush=True)
    return results


def _median(samples: list[dict[str, Any]], key: str) -> float | None:
    values = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(values) if values else None


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def report(results: dict[str, Any], labels: list[str], baseline: str | None, runs: int) -> str:
    head = "| operation | runtime | median ms (min) | CPU ms median | target | ÷ target |"
    rule = "|---|---|---|---|---|---|"
    if baseline:
        head += " ÷ baseline (median of pairs) |"
        rule += "---|"
    lines = [head, rule]
    for op in OPS:
        for label in labels:
            samples = results[label].get(op)
            if not samples:
                continue
            wall = _median(samples, "ms")
            assert wall is not None
            goal = target(op, label)
            row = (
                f"| {LABELS[op]} | {label} | {_fmt(wall)} ({_fmt(min(s['ms'] for s in samples))})"
                f" | {_fmt(_median(samples, 'cpu'))} | {_fmt(goal) if goal else ''} "
                f"| {f'{wall / goal:.2f}' if goal else ''} |"
            )
            if baseline:
                ratio = ""
                if label == "native (this checkout)":
                    base = results[f"native (baseline {baseline})"][op]
                    pairs = zip(samples, base, strict=True)
                    ratio = f"{statistics.median(a['ms'] / b['ms'] for a, b in pairs):.2f}"
                row += f" {ratio} |"
            lines.append(row)
    return "\n".join(lines) + f"\n\n({runs} rounds after one warm-up round.)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--members", type=int, default=200)
    # 999 items and the audit anchor: the 1,000 records a team vault holds (format.md §15.9).
    parser.add_argument("--items", type=int, default=999)
    parser.add_argument("--baseline", metavar="REF", help="also time vault_core at this git ref")
    parser.add_argument("--no-browser", action="store_true", help="skip headless Chromium")
    parser.add_argument("--json", type=Path, help="write every sample to this file")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="zkvault-teams-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        team = build(work, args.members, args.items, newcomers=args.runs + 1)
        team_json = work / "team.json"
        runtimes: list[Any] = [Worker("native (this checkout)", ROOT, team_json)]
        stack.callback(runtimes[0].close)
        if args.baseline:
            base = Worker(
                f"native (baseline {args.baseline})", extract(args.baseline, work), team_json
            )
            stack.callback(base.close)
            runtimes.append(base)
        skipped = ""
        if not args.no_browser:
            page = stack.enter_context(chromium(kdf.build_wheel(work), team_json))
            if isinstance(page, str):
                skipped = f"Chromium {page}"
            else:
                runtimes.append(page)
        results = measure(runtimes, args.runs)
    labels = [r.label for r in runtimes]
    print(
        f"Team: {team['members']} members, {team['items']} items; log {len(team['entries'])} "
        f"entries, {team['entry_bytes']:,} bytes; vault {team['blob_bytes']:,} bytes"
    )
    print(
        f"Machine: {os.cpu_count()} cores, {kdf._cpu_model()}; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; Python {platform.python_version()}"
    )
    print(
        "The admin's pinned contacts (every member and newcomer, pinned as a person does): "
        + "; ".join(f"{r.label} {r.contacts}" for r in runtimes)
    )
    if skipped:
        print(skipped)
    print()
    print(report(results, labels, args.baseline, args.runs))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "team": {
                        k: v
                        for k, v in team.items()
                        if k in ("members", "items", "entry_bytes", "blob_bytes")
                    },
                    "results": results,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
