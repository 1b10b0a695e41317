"""``ssh-key`` items in the web app (docs/web.md, "SSH keys"): what a pasted private key
is, the canonical text stored for it, a key generated here, and an item's public half.

The private key is made or read here, in the worker, and stored as the item's secret; no
answer carries it. A pasted key is read by vault_core.sshkeys (standard library only, as
Pyodide has it): an unencrypted OpenSSH key. A passphrase-protected key would need
bcrypt_pbkdf and AES, and a PEM key an ASN.1 reader, which the worker does not have; for
those the answer names the command that opens them (``zkvault add ... --import FILE``,
pyca/cryptography on the person's computer).
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from vault_core.errors import InvalidItemError
from vault_core.sshkeys import BEGIN, END, MAGIC, canonical_text, generate_ed25519, parse_private

from .session_error import SessionError

CLI_IMPORT = "zkvault add NAME --kind ssh-key --import FILE"
_PEM_BEGINS = tuple(
    f"-----BEGIN {label}PRIVATE KEY-----" for label in ("RSA ", "EC ", "DSA ", "ENCRYPTED ", "")
)
_PUBLIC_PREFIXES = ("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-", "ssh-dss ")
_MAX_TEXT = 16_384  # an item's secret at most (format.md §6.6)


def _encrypted_message() -> str:
    return (
        "This key is protected by a passphrase, which the web app cannot remove (it has no "
        "bcrypt or AES to decrypt it with). On a computer with zkvault, run "
        f"“{CLI_IMPORT}”: it asks for the passphrase, uses it once and stores the key in "
        "your vault. Nothing was stored."
    )


def _pem_message() -> str:
    return (
        "This is a PEM private key; the web app reads OpenSSH private keys "
        "(-----BEGIN OPENSSH PRIVATE KEY-----). On a computer with zkvault, run "
        f"“{CLI_IMPORT}”, which reads PEM keys too. Nothing was stored."
    )


def _is_encrypted(text: str) -> bool:
    """An OpenSSH key whose cipher is not "none" (read before the full check, which
    reports every refusal alike)."""
    body = text.strip().removeprefix(BEGIN.strip()).removesuffix(END.strip())
    try:
        raw = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 4:
        return False
    (size,) = struct.unpack(">I", raw[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    return raw[start : start + size] != b"none"


def stored_secret(text: Any) -> str:
    """The canonical text an ``ssh-key`` item stores for a pasted key (CRLF, 64-column
    lines and surrounding blanks accepted), or a ``SessionError`` that says what to do;
    no message quotes the key."""
    if not isinstance(text, str) or not text.strip():
        raise SessionError("ssh_key_missing", "Paste the private key, or choose Generate.")
    if len(text) > _MAX_TEXT:
        raise SessionError("invalid_item", "That is too long to be an SSH private key.")
    cleaned = text.strip().replace("\r\n", "\n").replace("\r", "\n")
    if cleaned.startswith(_PUBLIC_PREFIXES):
        raise SessionError(
            "ssh_key_public",
            "This is a public key. Paste the private key (the file without .pub), or choose "
            "Generate.",
        )
    if any(begin in cleaned for begin in _PEM_BEGINS):
        raise SessionError("ssh_key_pem", _pem_message())
    if cleaned.startswith(BEGIN.strip()) and _is_encrypted(cleaned):
        raise SessionError("ssh_key_encrypted", _encrypted_message())
    lines = [line.strip() for line in cleaned.split("\n")]
    try:
        return canonical_text("\n".join(line for line in lines if line) + "\n")
    except InvalidItemError as exc:
        raise SessionError(
            "invalid_item", f"Not a private key the vault can store: {exc}."
        ) from None


def describe(text: Any) -> dict[str, str]:
    """What the form shows while a key is pasted: its type and fingerprint (public)."""
    key = parse_private(stored_secret(text))
    return {"key_type": key.key_type, "fingerprint": key.fingerprint}


def generated() -> str:
    """A new Ed25519 key (libsodium, natively and in Pyodide), with no comment: the
    public line shown takes the item's name, as the CLI's does."""
    return generate_ed25519()


def public_half(secret: str, name: str) -> dict[str, str]:
    """The ``authorized_keys`` line (the key's own comment, else the item's name) and the
    ``SHA256:`` fingerprint: all the page ever gets of a stored key."""
    key = parse_private(secret)
    return {
        "public_key": key.public_line(key.comment or name),
        "fingerprint": key.fingerprint,
        "key_type": key.key_type,
    }
