"""SSH private keys held in ``ssh-key`` items (format.md §6.6, "ssh-key items").

Standard library only (it runs in Pyodide too): reads an unencrypted OpenSSH private key
(the ``openssh-key-v1`` structure of OpenSSH's PROTOCOL.key) far enough to check its type
and consistency and to give its public key and ``SHA256:`` fingerprint; writes an Ed25519
key made with the backend's libsodium; signs with an Ed25519 key through the backend.
RSA and ECDSA signing is left to the native client (pyca/cryptography): nothing here does
RSA arithmetic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field

from .errors import InvalidItemError

BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
END = "-----END OPENSSH PRIVATE KEY-----\n"
MAGIC = b"openssh-key-v1\x00"
LINE = 70  # base64 characters per line, as OpenSSH writes them
ED25519 = "ssh-ed25519"
RSA = "ssh-rsa"
ECDSA_P256 = "ecdsa-sha2-nistp256"
KEY_TYPES = (ED25519, RSA, ECDSA_P256)
RSA_MIN_BITS, RSA_MAX_BITS = 3072, 16384
CONFIRM_SCOPE = "confirm"  # the one scope an ssh-key item may carry: ask before each use
# One host (an ssh_config Host name or pattern) in an ssh-key item's url; hosts are
# separated by one space. No whitespace, quote, '#', '!' or ',' can reach ssh_config.
HOST = re.compile(r"[A-Za-z0-9_*?][A-Za-z0-9._*?-]{0,252}")
USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9._-]{0,255}")

# NIST P-256 (SEC 2): y^2 = x^3 - 3x + b over GF(p); n is the group order.
_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class SshKey:
    """A parsed private key. ``private`` never appears in repr()."""

    key_type: str
    public_blob: bytes  # the SSH wire form of the public key (RFC 4253 §6.6)
    private: bytes = field(repr=False)  # Ed25519: the 64-byte secret key; else b""
    comment: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_blob)

    def public_line(self, comment: str = "") -> str:
        return public_line(self.public_blob, comment)


def fingerprint(public_blob: bytes) -> str:
    """OpenSSH's ``SHA256:`` fingerprint: unpadded base64 of SHA-256 over the blob."""
    digest = base64.b64encode(hashlib.sha256(public_blob).digest()).decode().rstrip("=")
    return "SHA256:" + digest


def public_line(public_blob: bytes, comment: str = "") -> str:
    """The ``authorized_keys`` form: type, base64 blob and, when given, a comment."""
    key_type = _Reader(public_blob).string().decode("ascii", "replace")
    words = [key_type, base64.b64encode(public_blob).decode()]
    if comment:
        words.append(comment)
    return " ".join(words)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise InvalidItemError("the ssh key is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.u32())

    def mpint(self) -> int:
        raw = self.string()
        if raw and (raw[0] & 0x80):
            raise InvalidItemError("the ssh key holds a negative number")
        if raw[:1] == b"\x00" and (len(raw) == 1 or not raw[1] & 0x80):
            raise InvalidItemError("the ssh key holds a number not in its shortest form")
        return int.from_bytes(raw, "big")

    def done(self) -> bool:
        return self.pos == len(self.data)


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return _string(raw)


def armor(raw: bytes) -> str:
    text = base64.b64encode(raw).decode()
    lines = [text[i : i + LINE] for i in range(0, len(text), LINE)]
    return BEGIN + "".join(line + "\n" for line in lines) + END


def parse_private(text: str) -> SshKey:
    """Check ``text`` is a canonical unencrypted OpenSSH private key of an accepted type
    (format.md §6.6); every failure is ``InvalidItemError``, whose message names no byte
    of the key."""
    key, canonical = _parse(text)
    if canonical != text:
        raise InvalidItemError(
            "the ssh key is not in its canonical form (70-column LF lines, padding 0-7 bytes)"
        )
    return key


def canonical_text(text: str) -> str:
    """An unencrypted OpenSSH private key as ``parse_private`` accepts it: lines of 70
    characters, the private section padded as OpenSSH pads it (other writers wrap at 64 or
    pad a full block). Raises ``InvalidItemError`` as ``parse_private`` does."""
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return _parse(text)[1]


def _parse(text: str) -> tuple[SshKey, str]:
    if not text.startswith(BEGIN) or not text.endswith(END):
        raise InvalidItemError(
            "an ssh-key secret is an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)"
        )
    body = text[len(BEGIN) : len(text) - len(END)]
    try:
        raw = base64.b64decode(body.replace("\n", "").encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidItemError("the ssh key is not base64") from None
    if not raw.startswith(MAGIC):
        raise InvalidItemError("the ssh key is not an openssh-key-v1 key")
    r = _Reader(raw[len(MAGIC) :])
    if r.string() != b"none" or r.string() != b"none" or r.string() != b"":
        raise InvalidItemError("the ssh key is encrypted; store it without a passphrase")
    if r.u32() != 1:
        raise InvalidItemError("the ssh key file must hold exactly one key")
    public_blob = r.string()
    head = len(MAGIC) + r.pos
    section = r.string()
    if not r.done():
        raise InvalidItemError("the ssh key has bytes after its end")
    if len(section) % 8:
        raise InvalidItemError("the ssh key's private section is not padded to 8 bytes")
    p = _Reader(section)
    if p.u32() != p.u32():
        raise InvalidItemError("the ssh key's check numbers differ")
    key_type, own_public, private = _private_key(p)
    if own_public != public_blob:
        raise InvalidItemError("the ssh key's public part does not match its private part")
    try:
        comment = p.string().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidItemError("the ssh key's comment is not UTF-8") from None
    padding = section[p.pos :]
    if padding != bytes(range(1, len(padding) + 1)):
        raise InvalidItemError("the ssh key's padding is not 1, 2, 3, ...")
    content = section[: p.pos]
    canonical = raw[:head] + _string(content + bytes(range(1, -len(content) % 8 + 1)))
    return SshKey(key_type, public_blob, private, comment), armor(canonical)


def _private_key(p: _Reader) -> tuple[str, bytes, bytes]:
    """(key type, the public blob it implies, the Ed25519 secret key or b"")."""
    try:
        key_type = p.string().decode("ascii")
    except UnicodeDecodeError:
        key_type = ""
    if key_type == ED25519:
        public, secret = p.string(), p.string()
        if len(public) != 32 or len(secret) != 64 or secret[32:] != public:
            raise InvalidItemError("the Ed25519 key is malformed")
        return key_type, _string(ED25519.encode()) + _string(public), secret
    if key_type == RSA:
        n, e, d, iqmp, prime_p, prime_q = (p.mpint() for _ in range(6))
        if not RSA_MIN_BITS <= n.bit_length() <= RSA_MAX_BITS:
            raise InvalidItemError(f"an RSA key must have {RSA_MIN_BITS} to {RSA_MAX_BITS} bits")
        if e < 3 or e % 2 == 0 or prime_p * prime_q != n or not 0 < d < n or iqmp <= 0:
            raise InvalidItemError("the RSA key is inconsistent")
        return key_type, _string(RSA.encode()) + _mpint(e) + _mpint(n), b""
    if key_type == ECDSA_P256:
        curve, point, scalar = p.string(), p.string(), p.mpint()
        if curve != b"nistp256" or not _on_p256(point) or not 0 < scalar < _N:
            raise InvalidItemError("the ECDSA key is malformed")
        blob = _string(ECDSA_P256.encode()) + _string(curve) + _string(point)
        return key_type, blob, b""
    raise InvalidItemError(f"an ssh key is one of {', '.join(KEY_TYPES)} (RSA of 3072+ bits)")


def rsa_numbers(text: str) -> tuple[int, int, int, int, int, int]:
    """(n, e, d, iqmp, p, q) of an RSA key stored as ``text``, for the native client's
    signer (pyca/cryptography); ``InvalidItemError`` as ``parse_private`` raises it."""
    if parse_private(text).key_type != RSA:
        raise InvalidItemError("not an RSA key")
    body = text[len(BEGIN) : len(text) - len(END)].replace("\n", "")
    r = _Reader(base64.b64decode(body)[len(MAGIC) :])
    for _ in range(3):  # cipher, kdf, kdf options: "none", "none", "" (checked above)
        r.string()
    r.u32()
    r.string()  # the public key
    p = _Reader(r.string())
    p.u32(), p.u32(), p.string()  # check numbers and key type
    n, e, d, iqmp, prime_p, prime_q = (p.mpint() for _ in range(6))
    return n, e, d, iqmp, prime_p, prime_q


def _on_p256(point: bytes) -> bool:
    if len(point) != 65 or point[0] != 4:
        return False
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    return x < _P and y < _P and (y * y - (x * x * x - 3 * x + _B)) % _P == 0


def check_item(url: str, username: str, scopes: tuple[str, ...], secret: str) -> None:
    """The field rules of an ``ssh-key`` item beyond the common table (format.md §6.6)."""
    if url and not all(HOST.fullmatch(host) for host in url.split(" ")):
        raise InvalidItemError(
            "an ssh-key url is host names separated by single spaces (letters, digits, "
            "'.', '-', '_', '*', '?')"
        )
    if username and not USER.fullmatch(username):
        raise InvalidItemError("an ssh-key username is letters, digits, '.', '-' and '_'")
    if scopes not in ((), (CONFIRM_SCOPE,)):
        raise InvalidItemError(f"an ssh-key item's scopes are [] or [{CONFIRM_SCOPE!r}]")
    parse_private(secret)


def hosts(url: str) -> list[str]:
    return url.split(" ") if url else []


def ed25519_private(public: bytes, secret: bytes, comment: str, check: bytes) -> str:
    """The OpenSSH private key text of an Ed25519 key pair (``check``: 4 random bytes)."""
    public_blob = _string(ED25519.encode()) + _string(public)
    section = check + check + _string(ED25519.encode()) + _string(public) + _string(secret)
    section += _string(comment.encode("utf-8"))
    section += bytes(range(1, 8 - len(section) % 8 + 1)) if len(section) % 8 else b""
    raw = MAGIC + _string(b"none") + _string(b"none") + _string(b"") + struct.pack(">I", 1)
    return armor(raw + _string(public_blob) + _string(section))


def generate_ed25519(comment: str = "") -> str:
    """A new Ed25519 key from libsodium (natively and in Pyodide), as OpenSSH text."""
    from .backend import get_backend

    backend = get_backend()
    public, secret = backend.sign_seed_keypair(backend.random_bytes(32))
    try:
        return ed25519_private(public, bytes(secret), comment, backend.random_bytes(4))
    finally:
        secret[:] = bytes(len(secret))


def ed25519_signature(key: SshKey, data: bytes) -> bytes:
    """The SSH signature blob (``string "ssh-ed25519" || string sig``) over ``data``."""
    from .backend import get_backend

    if key.key_type != ED25519:
        raise ValueError("not an Ed25519 key")
    signature = get_backend().sign_detached(data, key.private)
    return _string(ED25519.encode()) + _string(signature)
