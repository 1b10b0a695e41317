"""Vault blobs as a server forges them: byte edits of what it stores, with no key.

Offsets are the header layout of docs/format.md §4 (vault_core/container.py writes it).
"""

from __future__ import annotations

import dataclasses

from vault_core import container as layout
from vault_core.encoding import u8, u16, u32

VERSION_AT = 4  # u16 after the magic
KDF_ID_AT, KDF_OPS_AT, KDF_MEM_AT = 46, 47, 51  # u8, u32, u32


def _set(blob: bytes, offset: int, value: bytes) -> bytes:
    return blob[:offset] + value + blob[offset + len(value) :]


def kdf(blob: bytes, *, ops: int | None = None, mem_kib: int | None = None) -> bytes:
    """Lowered (or raised) Argon2id parameters in the header; the MAC and slot are kept."""
    if ops is not None:
        blob = _set(blob, KDF_OPS_AT, u32(ops))
    if mem_kib is not None:
        blob = _set(blob, KDF_MEM_AT, u32(mem_kib))
    return blob


def kdf_id(blob: bytes, value: int) -> bytes:
    """An algorithm id this format does not define."""
    return _set(blob, KDF_ID_AT, u8(value))


def version(blob: bytes, value: int) -> bytes:
    return _set(blob, VERSION_AT, u16(value))


def drop_record(blob: bytes) -> bytes:
    """The last item's record left out (its manifest entry stays: the manifest is MACed)."""
    parsed = layout.parse(blob)
    assert parsed.records, "nothing to drop"
    return dataclasses.replace(parsed, records=parsed.records[:-1]).encode()


def duplicate_record(blob: bytes) -> bytes:
    """The first item's record sent twice."""
    parsed = layout.parse(blob)
    assert parsed.records, "nothing to duplicate"
    return dataclasses.replace(parsed, records=(parsed.records[0], *parsed.records)).encode()


def header(blob: bytes) -> layout.PublicHeader:
    return layout.peek_header(blob)
