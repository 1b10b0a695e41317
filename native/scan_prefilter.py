"""Whether bytes can hold a token of a known format, before the exact search.

The exact search (vault_core.token_formats.find_tokens) tries a match at every byte that
begins some prefix: ``s``, ``d``, ``n``, ``p``, ``r``, ``h`` and ``g`` begin most words,
so on ordinary text it runs at a fraction of the speed of a literal search. Every token
starts with one of the formats' literal prefixes, so a file in which none occurs can hold
none. One expression per first character has that character as its literal prefix, which
the regex engine finds with a fast scan instead of trying every position
(docs/performance.md, "zkvault scan"); a hit only means the exact search runs.
"""

from __future__ import annotations

import re

from vault_core.token_formats import PREFIXES


def _expressions() -> tuple[re.Pattern[bytes], ...]:
    # A prefix that begins with another (sk-ant- and sk-) needs no search of its own.
    shortest = sorted(p for p in PREFIXES if not any(q != p and p.startswith(q) for q in PREFIXES))
    groups: dict[str, list[str]] = {}
    for prefix in shortest:
        groups.setdefault(prefix[0], []).append(prefix)
    return tuple(
        re.compile(b"|".join(re.escape(p.encode("ascii")) for p in group))
        for group in groups.values()
    )


_EXPRESSIONS = _expressions()


def may_hold_token(data: bytes) -> bool:
    """False only when no token of a known format can occur in ``data``."""
    return any(expression.search(data) is not None for expression in _EXPRESSIONS)
