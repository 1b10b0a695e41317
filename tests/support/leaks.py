"""Search artefacts (dumps, logs, captures, storage) for secrets in every likely encoding.

A secret counts as leaked if any of its forms appears anywhere in an artefact:
raw (UTF-8), hex (both cases), base64 and base64url at every byte alignment
(so a secret inside a larger encoded blob is still found), UTF-16 (LE and BE),
URL-encoding and JSON string escaping.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass


def _b64_fragments(secret: bytes, encode: Callable[[bytes], bytes]) -> list[bytes]:
    """Inside a larger encoded stream the secret starts at one of three positions in a
    3-byte group. Skipping k = 0, 1, 2 leading bytes puts one of them on a group boundary,
    and the encoding of the whole groups that follow then appears verbatim."""
    fragments = []
    for skip in range(3):
        tail = secret[skip:]
        whole = tail[: len(tail) // 3 * 3]
        if len(whole) >= 6:
            fragments.append(encode(whole))
    return fragments


def _url_forms(raw: bytes) -> list[bytes]:
    """Percent-encoding as different encoders do it: / kept or escaped, space as + or %20,
    upper- or lower-case hex."""
    variants = []
    for quoted in (
        urllib.parse.quote(raw, safe=""),
        urllib.parse.quote(raw),
        urllib.parse.quote_plus(raw, safe=""),
    ):
        variants += [quoted, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)]
    return [v.encode() for v in variants]


def forms(secret: str | bytes) -> dict[str, list[bytes]]:
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    found: dict[str, list[bytes]] = {
        "raw": [raw],
        "hex": [raw.hex().encode(), raw.hex().upper().encode()],
        "base64": _b64_fragments(raw, base64.b64encode),
        "base64url": _b64_fragments(raw, base64.urlsafe_b64encode),
        "url-encoded": _url_forms(raw),
    }
    if isinstance(secret, str):
        found["utf-16"] = [secret.encode("utf-16-le"), secret.encode("utf-16-be")]
        found["json"] = [
            json.dumps(secret)[1:-1].encode(),
            json.dumps(secret, ensure_ascii=False)[1:-1].encode(),
        ]
    return {name: [f for f in dict.fromkeys(fs) if f] for name, fs in found.items()}


@dataclass(frozen=True)
class Hit:
    artefact: str
    secret: str
    form: str


# The search: one pass over each artefact instead of one per variant (a breach search is
# ~1,000 variants x ~100 MB). Every 8-byte word of an artefact at an offset divisible by 8
# is read as an integer, in C, and looked up among the words the variants hold. A variant
# that occurs at position i holds, with o = -i mod 8 (0..7), the artefact's aligned words
# at i + o, i + o + 8, ... as far as it reaches: its chain of words at o, o + 8, .... So
# unless, for some o, every word of the chain is seen, the variant does not occur; if one
# chain is all seen (an empty one, in a variant too short to hold a word there, always
# is), the variant is searched with `in` as before. Same hits, exactly.
_WORD = 8


def _word(data: bytes | memoryview, at: int) -> int:
    return int.from_bytes(data[at : at + _WORD], sys.byteorder)  # as memoryview.cast reads


def _aligned_words(data: bytes) -> memoryview:
    view = memoryview(data)
    return view[: len(view) // _WORD * _WORD].cast("Q")


def scan(artefacts: Mapping[str, bytes], secrets: Mapping[str, str | bytes]) -> list[Hit]:
    """Every (artefact, secret, form) where the secret appears. Names only: never the value."""
    searched = [
        (secret_name, form_name, variants)
        for secret_name, secret in secrets.items()
        for form_name, variants in forms(secret).items()
    ]
    chains: dict[bytes, list[tuple[int, ...]]] = {}
    for _, _, variants in searched:
        for variant in variants:
            chains[variant] = [
                tuple(_word(variant, at) for at in range(o, len(variant) - _WORD + 1, _WORD))
                for o in range(_WORD)
            ]
    words = {word for of_variant in chains.values() for chain in of_variant for word in chain}
    candidates = {}
    for artefact_name, data in artefacts.items():
        seen = words.intersection(_aligned_words(data))
        candidates[artefact_name] = {
            variant
            for variant, of_variant in chains.items()
            if any(all(word in seen for word in chain) for chain in of_variant)
        }
    hits = []
    for secret_name, form_name, variants in searched:
        for artefact_name, data in artefacts.items():
            maybe = candidates[artefact_name]
            if any(variant in maybe and variant in data for variant in variants):
                hits.append(Hit(artefact_name, secret_name, form_name))
    return hits


def table(
    artefacts: Mapping[str, bytes],
    secrets: Mapping[str, str | bytes],
    kind: Callable[[str], str] = lambda name: name,
    hits: list[Hit] | None = None,
    belongs: Callable[[str, str], bool] = lambda artefact, kind: False,
) -> str:
    """A plain-text artefact × secret table of hit counts (0 everywhere is the goal).
    ``kind`` groups secrets into one column each ("passphrase (4)"), for wide searches;
    cells where ``belongs(artefact, kind)`` (a credential in the traffic that carries it)
    show "-" and are not counted."""
    hits = scan(artefacts, secrets) if hits is None else hits
    columns: dict[str, list[str]] = {}
    for name in secrets:
        columns.setdefault(kind(name), []).append(name)
    headers = {
        c: c if len(names) == 1 and c == names[0] else f"{c} ({len(names)})"
        for c, names in columns.items()
    }
    width = max([len(a) for a in artefacts] + [8])
    lines = [" " * width + " | " + " | ".join(headers.values())]
    for artefact in artefacts:
        row = [
            (
                "-"
                if belongs(artefact, c)
                else str(sum(1 for h in hits if h.artefact == artefact and h.secret in names))
            ).rjust(len(headers[c]))
            for c, names in columns.items()
        ]
        lines.append(artefact.ljust(width) + " | " + " | ".join(row))
    return "\n".join(lines)
