"""The security summary the suite prints at its end (see tests/conftest.py).

Adversarial tests call ``record`` with what they tried and what happened;
the table is then readable at a glance: hits and losses must be 0, detected
must equal tried.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Row:
    category: str
    case: str
    counts: dict[str, int] = field(default_factory=dict)


ROWS: list[Row] = []
SECTIONS: list[tuple[str, str]] = []  # (title, text): detail printed before the summary


def attach(title: str, text: str) -> None:
    SECTIONS.append((title, text))


def record(category: str, case: str, **counts: int) -> None:
    """Add counts to a row; calls with the same category and case add up."""
    for row in ROWS:
        if (row.category, row.case) == (category, case):
            for key, value in counts.items():
                row.counts[key] = row.counts.get(key, 0) + value
            return
    ROWS.append(Row(category, case, dict(counts)))


def render() -> str:
    if not ROWS:
        return ""
    columns = sorted({key for row in ROWS for key in row.counts})
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in ROWS:
        for key, value in row.counts.items():
            totals[row.category][key] += value
    width = max(len(f"{r.category}: {r.case}") for r in ROWS)
    width = max([width] + [len(f"TOTAL {category}") for category in totals])
    widths = {c: max(8, len(c)) for c in columns}
    lines = [f"{'case':<{width}} | " + " | ".join(f"{c:>{widths[c]}}" for c in columns)]
    lines.append("-" * len(lines[0]))
    for row in ROWS:
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

    def total(key: str) -> int:
        return sum(row.counts.get(key, 0) for row in ROWS)

    def missed(key: str) -> int:
        return sum(
            row.counts["tried"] - row.counts[key]
            for row in ROWS
            if key in row.counts and "tried" in row.counts
        )

    must_be_zero = {
        "secret hits": total("hits"),
        "data lost": total("lost"),
        "tampering undetected": missed("detected"),
        "attacks not refused": missed("refused"),
    }
    ok = not any(must_be_zero.values())
    return (
        ("PASS" if ok else "FAIL")
        + ": "
        + ", ".join(f"{name} {value}" for name, value in must_be_zero.items())
        + (f" (over {total('scenarios')} breach scenarios, {total('tried')} cases tried)")
    )
