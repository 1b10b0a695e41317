"""The security summary the suite prints at its end (see tests/conftest.py).

Adversarial tests call ``record`` with what they tried and what they observed (compute
``detected=``/``refused=``/``lost=``/``hits=`` from what happened, record, then assert;
never a count bumped after an assert passed, which can only ever equal ``tried``),
so the table reads at a glance: hits and losses must be 0, detected and refused must
equal tried. A control (genuine data that must open, a probe that must be seen) is
recorded in the category "controls" with ``checked=``, never ``tried=``: it is not a case
of tampering or an attack, and must not be summed into their totals.

The verdict does not take a record on trust: tests/conftest.py tells this module which
test is running and which tests failed or were skipped, and

- a failed or errored test's contributions count as neither detected nor refused,
  whatever it recorded;
- every security test (one that records, or is marked ``security``) that failed,
  errored, was skipped, or passed without recording anything is counted in "security
  tests failed": a security case that did not run proved nothing (a deselected test,
  which pytest never reports, is not counted);

any non-zero count makes the verdict FAIL.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Counts a failed test cannot vouch for: they fall to 0 when its test fails.
CLAIMS = ("detected", "refused")


@dataclass
class Call:
    category: str
    case: str
    test: str  # the pytest node id that recorded it ("" outside a test)
    counts: dict[str, int]


@dataclass
class Row:
    category: str
    case: str
    counts: dict[str, int] = field(default_factory=dict)


CALLS: list[Call] = []
SECTIONS: list[tuple[str, str]] = []  # (title, text): detail printed before the summary
SECURITY_TESTS: set[str] = set()  # expected to record (collected by tests/conftest.py)
FAILED_TESTS: set[str] = set()  # failed or errored in any phase
PASSED_TESTS: set[str] = set()  # whose test function ran and passed
SKIPPED_TESTS: set[str] = set()  # skipped (or xfailed) in any phase
_current = [""]


def attach(title: str, text: str) -> None:
    SECTIONS.append((title, text))


def begin(test: str) -> None:
    _current[0] = test


def failed(test: str) -> None:
    FAILED_TESTS.add(test)


def passed(test: str) -> None:
    PASSED_TESTS.add(test)


def skipped(test: str) -> None:
    SKIPPED_TESTS.add(test)


def record(category: str, case: str, **counts: int) -> None:
    """Add observed counts to a row; calls with the same category and case add up."""
    CALLS.append(Call(category, case, _current[0], dict(counts)))


def rows() -> list[Row]:
    """The table, with every failed test's claims withdrawn, plus one row per security
    test that failed or never recorded."""
    table: dict[tuple[str, str], Row] = {}
    for call in CALLS:
        row = table.setdefault((call.category, call.case), Row(call.category, call.case))
        for key, value in call.counts.items():
            if key in CLAIMS and call.test in FAILED_TESTS:
                value = 0
            row.counts[key] = row.counts.get(key, 0) + value
    for test in sorted(broken_tests()):
        case = f"{test} (skipped)" if test in SKIPPED_TESTS - FAILED_TESTS else test
        table[("security test failed", case)] = Row(
            "security test failed", case, {"failed tests": 1}
        )
    return list(table.values())


def broken_tests() -> set[str]:
    """Security tests that failed, errored, were skipped, or passed without recording."""
    recorded = {call.test for call in CALLS}
    failed_recorders = {t for t in recorded if t in FAILED_TESTS}
    reported = FAILED_TESTS | PASSED_TESTS | SKIPPED_TESTS  # a deselected test is none
    expected = {
        t
        for t in SECURITY_TESTS & reported
        if t in FAILED_TESTS or t in SKIPPED_TESTS or t not in recorded
    }
    return failed_recorders | expected


def render() -> str:
    table = rows()
    if not table:
        return ""
    columns = sorted({key for row in table for key in row.counts})
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in table:
        for key, value in row.counts.items():
            totals[row.category][key] += value
    width = max(len(f"{r.category}: {r.case}") for r in table)
    width = max([width] + [len(f"TOTAL {category}") for category in totals])
    widths = {c: max(8, len(c)) for c in columns}
    lines = [f"{'case':<{width}} | " + " | ".join(f"{c:>{widths[c]}}" for c in columns)]
    lines.append("-" * len(lines[0]))
    for row in table:
        cells = [f"{row.counts.get(c, ''):>{widths[c]}}" for c in columns]
        lines.append(f"{row.category + ': ' + row.case:<{width}} | " + " | ".join(cells))
    lines.append("-" * len(lines[0]))
    for category, sums in totals.items():
        cells = [f"{sums.get(c, ''):>{widths[c]}}" for c in columns]
        lines.append(f"{'TOTAL ' + category:<{width}} | " + " | ".join(cells))
    lines.append("-" * len(lines[0]))
    lines.append(verdict())
    return "\n".join(lines)


def verdict() -> str:
    """One line: every number that must be 0, and whether it is."""
    table = rows()

    def total(key: str) -> int:
        return sum(row.counts.get(key, 0) for row in table)

    def missed(key: str) -> int:
        return sum(
            row.counts["tried"] - row.counts[key]
            for row in table
            if key in row.counts and "tried" in row.counts
        )

    must_be_zero = {
        "secret hits": total("hits"),
        "data lost": total("lost"),
        "tampering undetected": missed("detected"),
        "attacks not refused": missed("refused"),
        "security tests failed": len(broken_tests()),
    }
    ok = not any(must_be_zero.values())
    return (
        ("PASS" if ok else "FAIL")
        + ": "
        + ", ".join(f"{name} {value}" for name, value in must_be_zero.items())
        + (f" (over {total('scenarios')} breach scenarios, {total('tried')} cases tried)")
    )


def save(path: Path) -> None:
    """Write what this run observed, for ``merge`` when the suite runs in groups."""
    state = {
        "calls": [asdict(call) for call in CALLS],
        "sections": SECTIONS,
        "security": sorted(SECURITY_TESTS),
        "failed": sorted(FAILED_TESTS),
        "passed": sorted(PASSED_TESTS),
        "skipped": sorted(SKIPPED_TESTS),
    }
    path.write_text(json.dumps(state))


def merge(path: Path) -> None:
    """Add what another run (one group of the suite) observed to this process's state."""
    state = json.loads(path.read_text())
    CALLS.extend(Call(**call) for call in state["calls"])
    SECTIONS.extend((title, text) for title, text in state["sections"])
    SECURITY_TESTS.update(state["security"])
    FAILED_TESTS.update(state["failed"])
    PASSED_TESTS.update(state["passed"])
    SKIPPED_TESTS.update(state["skipped"])


def main(paths: list[str]) -> int:
    """``python -m tests.support.report GROUP.json ...``: the whole suite's summary from
    its groups' saved observations; exits 1 unless the verdict is PASS. A group that
    saved nothing (it crashed) makes the verdict FAIL too."""
    missing = [p for p in paths if not Path(p).is_file()]
    for path in paths:
        if path not in missing:
            merge(Path(path))
    for title, text in SECTIONS:
        print(f"{'-' * 20} {title} {'-' * 20}\n{text}")
    print(f"{'=' * 20} zkvault security summary {'=' * 20}")
    print(render() or verdict())
    for path in missing:
        print(f"FAIL: no security observations from {path} (that group did not finish)")
    return 0 if verdict().startswith("PASS") and not missing else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
