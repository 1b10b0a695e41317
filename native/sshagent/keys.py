"""SSH keys on the laptop: importing, generating and signing (docs/cli.md, "SSH agent").

vault_core.sshkeys checks and reads the stored form (an unencrypted OpenSSH private key)
with the standard library and signs Ed25519 through libsodium. What needs real RSA and
ECDSA, and reading passphrase-protected or PEM files, is pyca/cryptography's: nothing here
does RSA arithmetic of its own. An import passphrase is used once, to read the file, and
never stored; the vault keeps the key unencrypted inside its own encryption.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from native.errors import AUTH, USAGE, CliError
from vault_core import sshkeys
from vault_core.errors import InvalidItemError

# SHA-256 digests of the RSA keys this process has checked once (never the keys).
_CHECKED: set[bytes] = set()
_CHECKED_MAX = 4096
# SSH agent protocol flags (draft-miller-ssh-agent §4.5.1) choosing an RSA signature.
RSA_SHA2_256 = 0x02
RSA_SHA2_512 = 0x04


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(value: int) -> bytes:
    return _string(value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b"")


def import_key(data: bytes, passphrase: bytes | None = None) -> str:
    """Any OpenSSH or PEM (PKCS#1, PKCS#8, SEC 1) private key, passphrase-protected or not,
    as the canonical text an ``ssh-key`` item stores. Refused: other types, RSA below 3072
    bits, a wrong or missing passphrase (typed errors, never the key's bytes)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    loaders: list[Any] = []
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        loaders.append(serialization.load_ssh_private_key)
    elif b"-----BEGIN " in data:
        loaders.append(serialization.load_pem_private_key)
    else:
        raise CliError("not a private key file (OpenSSH or PEM expected)", USAGE, "bad_ssh_key")
    try:
        key = loaders[0](data, passphrase or None)
    except TypeError:  # encrypted without a passphrase, or a passphrase for a plain file
        if passphrase:
            raise CliError(
                "that key file is not passphrase-protected", USAGE, "bad_ssh_key"
            ) from None
        raise CliError(
            "the key file is passphrase-protected; give its passphrase",
            USAGE,
            "ssh_key_passphrase",
        ) from None
    except UnsupportedAlgorithm:
        raise CliError(
            "unsupported key type: an ssh key is Ed25519, ECDSA P-256 or RSA of 3072+ bits",
            USAGE,
            "bad_ssh_key",
        ) from None
    except ValueError:
        if passphrase:  # it was encrypted (no TypeError): the passphrase did not open it
            raise CliError(
                "wrong passphrase for the key file; nothing was read", AUTH, "wrong_key_passphrase"
            ) from None
        raise CliError("could not read the key file (damaged?)", USAGE, "bad_ssh_key") from None
    return export_key(key)


def export_key(key: Any) -> str:
    """A cryptography private key as the stored text, checked by vault_core."""
    from cryptography.hazmat.primitives import serialization

    text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    try:
        return sshkeys.canonical_text(text)
    except InvalidItemError as exc:
        raise CliError(str(exc), USAGE, "bad_ssh_key") from None


def generate(key_type: str = "ed25519", comment: str = "") -> str:
    """A new key: Ed25519 from libsodium (vault_core, as the web app makes it), RSA 4096 and
    ECDSA P-256 from cryptography."""
    if key_type == "ed25519":
        return sshkeys.generate_ed25519(comment)
    if key_type == "rsa":
        from cryptography.hazmat.primitives.asymmetric import rsa

        return export_key(rsa.generate_private_key(public_exponent=65537, key_size=4096))
    if key_type == "ecdsa":
        from cryptography.hazmat.primitives.asymmetric import ec

        return export_key(ec.generate_private_key(ec.SECP256R1()))
    raise CliError("key type is one of ed25519, rsa, ecdsa", USAGE, "bad_ssh_key")


def _rsa_key(secret: str) -> Any:
    """The RSA key of ``secret`` for pyca/cryptography. Its consistency check (OpenSSL's
    RSA_check_key) costs a third of a second for RSA 3072: it runs the first time this
    process signs with a key, and later signatures with the same key skip it. A key that
    passed signs correctly (a wrong CRT value would leak a factor in a signature)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    n, e, d, iqmp, p, q = sshkeys.rsa_numbers(secret)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), iqmp, rsa.RSAPublicNumbers(e, n)
    )
    digest = hashlib.sha256(secret.encode("ascii")).digest()
    key = numbers.private_key(unsafe_skip_rsa_key_validation=digest in _CHECKED)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED.add(digest)
    return key


def sign(secret: str, data: bytes, flags: int = 0) -> bytes:
    """The SSH signature blob of ``data`` by the key stored as ``secret``. RSA signs with
    rsa-sha2-512 or rsa-sha2-256 as ``flags`` ask; SHA-1 (``ssh-rsa``, flags 0) is refused."""
    key = sshkeys.parse_private(secret)
    if key.key_type == sshkeys.ED25519:
        return sshkeys.ed25519_signature(key, data)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    if key.key_type == sshkeys.RSA:
        private = _rsa_key(secret)
        digest: hashes.HashAlgorithm
        if flags & RSA_SHA2_512:
            name, digest = b"rsa-sha2-512", hashes.SHA512()
        elif flags & RSA_SHA2_256:
            name, digest = b"rsa-sha2-256", hashes.SHA256()
        else:
            raise ValueError("ssh-rsa (SHA-1) signatures are refused")
        return _string(name) + _string(private.sign(data, padding.PKCS1v15(), digest))
    private_ec = serialization.load_ssh_private_key(secret.encode("ascii"), None)
    assert isinstance(private_ec, ec.EllipticCurvePrivateKey)
    r, s = utils.decode_dss_signature(private_ec.sign(data, ec.ECDSA(hashes.SHA256())))
    return _string(sshkeys.ECDSA_P256.encode()) + _string(_mpint(r) + _mpint(s))
