"""What the attacker writes into the database: forged vaults and grants built from the
real ones, and the error each client must give, decided by the independent reader written
from the spec (tests/unit/spec_reader.py), not by the code under test."""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from tests.unit import spec_reader
from tests.vectors.common import flip, record_spans
from tests.vectors.generate import REGIONS
from vault_core import container as layout


@dataclass(frozen=True)
class Forgery:
    name: str
    revision: int  # what the server's bookkeeping says
    blob: bytes


def revision_of(blob: bytes) -> int:
    return int(struct.unpack(">Q", blob[38:46])[0]) if len(blob) >= 46 else 1


def vault_forgeries(current: bytes, older: dict[int, bytes], other_account: bytes) -> list[Forgery]:
    """One per region of the format, plus truncation, swapping, rollback and item surgery.
    ``older``: earlier revisions of the same vault; ``other_account``: the other person's."""
    revision = revision_of(current)
    spans = record_spans(current)
    first, _ = spans[0]
    manifest = layout.HEADER_BYTES
    mac = first - 32
    found = [
        Forgery(f"one bit of the {region} flipped", revision, flip(current, offset))
        for region, offset in REGIONS.items()
    ]
    found += [
        Forgery("manifest ids out of order", revision, flip(current, manifest, 0xFF)),
        Forgery("a manifest hash flipped", revision, flip(current, manifest + 30)),
        Forgery("the header MAC flipped", revision, flip(current, mac)),
        Forgery("a record's item id flipped", revision, flip(current, first + 15)),
        Forgery("a record's revision changed", revision, flip(current, first + 23, 0x02)),
        Forgery("a record nonce flipped", revision, flip(current, first + 30)),
        Forgery("a record length changed", revision, flip(current, first + 51)),
        Forgery("a record ciphertext flipped", revision, flip(current, first + 60)),
        Forgery("the last record's tag flipped", revision, flip(current, len(current) - 1)),
        Forgery("truncated inside the header", revision, current[:100]),
        Forgery("truncated after the MAC", revision, current[: mac + 40]),
        Forgery("last byte cut", revision, current[:-1]),
        Forgery("a byte appended", revision, current + b"\x00"),
        Forgery("the other account's vault swapped in", revision_of(other_account), other_account),
        Forgery("an item dropped", revision, current[: spans[-1][0]] + current[spans[-1][1] :]),
        Forgery(
            "an item duplicated",
            revision,
            current[: spans[1][0]] + current[first : spans[0][1]] + current[spans[1][0] :],
        ),
    ]
    oldest = min(older)
    found.append(Forgery(f"an older revision ({oldest}) restored", oldest, older[oldest]))
    replayed = _replay_an_item(current, older)
    if replayed:
        found.append(Forgery("an item replaced by its older copy", revision, replayed))
    return found


def _replay_an_item(current: bytes, older: dict[int, bytes]) -> bytes | None:
    """Swap one record for the same item's record from an earlier revision (a rotated token)."""
    now = {current[a : a + 16]: (a, b) for a, b in record_spans(current)}
    for blob in older.values():
        for a, b in record_spans(blob):
            item = blob[a : a + 16]
            if item in now and blob[a:b] != current[slice(*now[item])]:
                start, end = now[item]
                return current[:start] + blob[a:b] + current[end:]
    return None


def grant_forgeries(
    genuine: tuple[int, bytes], earlier: tuple[int, bytes], others: dict[str, tuple[int, bytes]]
) -> list[Forgery]:
    """Against one runner: its grant damaged, its earlier grant replayed, and the grants of
    ``others`` (other runners, of this account and another) re-pointed to it."""
    revision, blob = genuine
    found = [
        Forgery("a bit of the sealed box's key flipped", revision, flip(blob, 0)),
        Forgery("a bit of the sealed payload flipped", revision, flip(blob, len(blob) // 2)),
        Forgery("the last byte flipped", revision, flip(blob, len(blob) - 1)),
        Forgery("truncated to half", revision, blob[: len(blob) // 2]),
    ]
    if earlier[0] < revision:  # re-granted since the attacker's earlier dump
        found.append(Forgery(f"its earlier grant (revision {earlier[0]}) replayed", *earlier))
    found += [Forgery(f"{name}'s grant re-pointed to it", *grant) for name, grant in others.items()]
    return found


def expected_vault_error(
    blob: bytes, passphrase: str, account: uuid.UUID, pinned: uuid.UUID | None, seen: int
) -> str:
    try:
        spec_reader.read_vault(blob, passphrase, account, pinned, seen)
    except spec_reader.Refused as refused:
        return str(refused.code)
    return "ok"


def expected_grant_error(
    blob: bytes, seed: bytes, account: uuid.UUID, runner: uuid.UUID, owner_key: bytes, seen: int
) -> str:
    try:
        spec_reader.read_grant(blob, seed, account, runner, owner_key, seen)
    except spec_reader.Refused as refused:
        return str(refused.code)
    return "ok"
