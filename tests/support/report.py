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


def record(category: str, case: str, **counts: int) -> None:
    ROWS.append(Row(category, case, counts))


def render() -> str:
    if not ROWS:
        return ""
    columns = sorted({key for row in ROWS for key in row.counts})
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in ROWS:
        for key, value in row.counts.items():
            totals[row.category][key] += value
    width = max(len(f"{r.category}: {r.case}") for r in ROWS)
    width = max(width, len("TOTAL faults"))
    lines = [f"{'case':<{width}} | " + " | ".join(f"{c:>8}" for c in columns)]
    lines.append("-" * len(lines[0]))
    for row in ROWS:
        cells = [f"{row.counts[c]:>8}" if c in row.counts else f"{'':>8}" for c in columns]
        lines.append(f"{row.category + ': ' + row.case:<{width}} | " + " | ".join(cells))
    lines.append("-" * len(lines[0]))
    for category, sums in totals.items():
        cells = [f"{sums[c]:>8}" if c in sums else f"{'':>8}" for c in columns]
        lines.append(f"{'TOTAL ' + category:<{width}} | " + " | ".join(cells))
    return "\n".join(lines)
