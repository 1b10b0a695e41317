"""Backend known-answer checks, run unchanged by CPython (NativeBackend) and inside Pyodide
(PyodideBackend): the test loads this very file into Pyodide, so both runtimes execute
the same code. Standard library and vault_core.backend only.

run_checks() asserts the published answers (RFC 7693, RFC 8032, NaCl's box test,
the XChaCha20-Poly1305 draft, the design's Argon2id check) and the error contract, and
returns every output as hex so the caller can also require identical bytes across runtimes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from vault_core.backend import Backend, PrimitiveAuthError, get_backend

# (name, out_len, passphrase, salt, opslimit, memlimit in bytes). Cheap cases exercise the
# length and encoding paths (non-ASCII, empty passphrase, 64-byte output); the first is the
# design's check (m=64 MiB, t=3).
ARGON2_CASES: list[tuple[str, int, bytes, bytes, int, int]] = [
    ("design", 32, b"correct horse", bytes(16), 3, 64 * 1024 * 1024),
    ("utf8", 64, "pässwörd ✓ 🔑".encode(), bytes(range(16)), 2, 8 * 1024 * 1024),
    ("empty", 16, b"", b"\xff" * 16, 1, 8 * 1024 * 1024),
    ("odd-mem", 48, b"x" * 200, bytes(range(100, 116)), 4, 8 * 1024 * 1024 + 3 * 1024 + 7),
]

XCHACHA = {  # draft-irtf-cfrg-xchacha-03, A.3.1
    "key": bytes(range(0x80, 0xA0)),
    "nonce": bytes(range(0x40, 0x58)),
    "ad": bytes.fromhex("50515253c0c1c2c3c4c5c6c7"),
    "plaintext": b"Ladies and Gentlemen of the class of '99: If I could offer you only one "
    b"tip for the future, sunscreen would be it.",
    "ciphertext": "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
    "21f9664c97637da9768812f615c68b13b52e"
    "c0875924c1c7987947deafd8780acf49",
}


class BoxVector(TypedDict):
    alice_sk: bytes
    alice_pk: bytes
    bob_sk: bytes
    bob_pk: bytes
    nonce: bytes
    message: bytes
    box: str  # expected ciphertext, hex


BOX: BoxVector = {  # NaCl tests/box.c with the RFC 7748 key pairs
    "alice_sk": bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    "alice_pk": bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    "bob_sk": bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    "bob_pk": bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
    "nonce": bytes.fromhex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37"),
    "message": bytes.fromhex(
        "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc"
        "e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31"
        "0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde"
        "048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864"
        "5e0705"
    ),
    "box": "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce"
    "48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972"
    "71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae"
    "90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3"
    "7973f622a43d14a6599b1f654cb45a74e355a5",
}

ED25519 = [  # RFC 8032 section 7.1, tests 1 and 2
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        b"",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        b"\x72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f36"
        "13d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def _expect_auth_error(what: str, call: Any) -> None:
    try:
        call()
    except PrimitiveAuthError as error:
        assert str(error) == "", f"{what}: PrimitiveAuthError must carry no detail"
        return
    raise AssertionError(f"{what}: expected PrimitiveAuthError, got no error")


def _argon2(b: Backend, out: dict[str, str], cases: list[str] | None) -> None:
    for name, out_len, pw, salt, ops, mem in ARGON2_CASES:
        if cases is not None and name not in cases:
            continue
        key = b.argon2id(out_len, pw, salt, ops, mem)
        assert type(key) is bytearray, f"argon2id {name}: must return bytearray"
        assert len(key) == out_len, f"argon2id {name}: wrong length"
        out[f"argon2id/{name}"] = key.hex()
    if "argon2id/design" in out:
        design = out["argon2id/design"]
        assert design.startswith("7305faeb") and design.endswith("fb96"), "design Argon2id check"


def _blake2b(b: Backend, out: dict[str, str]) -> None:
    abc = b.blake2b(64, b"abc")
    assert type(abc) is bytes
    assert abc.hex() == (
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
    ), "RFC 7693 abc"
    keyed = b.blake2b(64, b"", key=bytes(range(64)))
    assert keyed.hex() == (
        "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
        "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568"
    ), "BLAKE2 keyed KAT"
    out["blake2b/abc"] = abc.hex()
    out["blake2b/keyed-kat"] = keyed.hex()
    message = bytes(range(256)) * 5
    for n in (16, 32, 64):
        out[f"blake2b/unkeyed-{n}"] = b.blake2b(n, message).hex()
        out[f"blake2b/keyed-{n}"] = b.blake2b(n, message, key=b"k" * 32).hex()
    assert out["blake2b/keyed-32"] != out["blake2b/unkeyed-32"], "key must change the hash"


def _aead(b: Backend, out: dict[str, str]) -> None:
    v = XCHACHA
    key, nonce, ad, pt = v["key"], v["nonce"], v["ad"], v["plaintext"]
    assert isinstance(key, bytes) and isinstance(nonce, bytes)
    assert isinstance(ad, bytes) and isinstance(pt, bytes)
    ct = b.aead_encrypt(key, nonce, pt, ad)
    assert type(ct) is bytes
    assert ct.hex() == v["ciphertext"], "XChaCha20-Poly1305 draft A.3.1"
    opened = b.aead_decrypt(key, nonce, ct, ad)
    assert type(opened) is bytearray and opened == pt, "aead roundtrip"
    out["aead/draft"] = ct.hex()
    empty = b.aead_encrypt(key, nonce, b"", b"")
    assert len(empty) == 16 and b.aead_decrypt(key, nonce, empty, b"") == b""
    out["aead/empty"] = empty.hex()
    _expect_auth_error("aead ciphertext", lambda: b.aead_decrypt(key, nonce, _flip(ct, 0), ad))
    _expect_auth_error("aead tag", lambda: b.aead_decrypt(key, nonce, _flip(ct, len(ct) - 1), ad))
    _expect_auth_error("aead ad", lambda: b.aead_decrypt(key, nonce, ct, _flip(ad, 3)))
    _expect_auth_error("aead no ad", lambda: b.aead_decrypt(key, nonce, ct, b""))
    _expect_auth_error("aead nonce", lambda: b.aead_decrypt(key, _flip(nonce, 23), ct, ad))
    _expect_auth_error("aead key", lambda: b.aead_decrypt(_flip(key, 31), nonce, ct, ad))
    _expect_auth_error("aead truncated", lambda: b.aead_decrypt(key, nonce, ct[:-1], ad))


def _box(b: Backend, out: dict[str, str]) -> None:
    v = BOX
    c = b.box_easy(v["message"], v["nonce"], v["bob_pk"], v["alice_sk"])
    assert type(c) is bytes
    assert c.hex() == v["box"], "NaCl box test vector"
    opened = b.box_open_easy(c, v["nonce"], v["alice_pk"], v["bob_sk"])
    assert type(opened) is bytearray and opened == v["message"], "box roundtrip"
    _expect_auth_error(
        "box tamper", lambda: b.box_open_easy(_flip(c, 20), v["nonce"], v["alice_pk"], v["bob_sk"])
    )
    _expect_auth_error(
        "box mac", lambda: b.box_open_easy(_flip(c, 0), v["nonce"], v["alice_pk"], v["bob_sk"])
    )
    _expect_auth_error(
        "box wrong sender", lambda: b.box_open_easy(c, v["nonce"], v["bob_pk"], v["bob_sk"])
    )
    _expect_auth_error(
        "box too short", lambda: b.box_open_easy(c[:15], v["nonce"], v["alice_pk"], v["bob_sk"])
    )
    for i, seed in enumerate((bytes(32), bytes(range(32)), b"\xa5" * 32)):
        pk, sk = b.box_seed_keypair(seed)
        assert type(pk) is bytes and type(sk) is bytearray
        assert len(pk) == 32 and len(sk) == 32
        out[f"box_seed_keypair/{i}/pk"] = pk.hex()
        out[f"box_seed_keypair/{i}/sk"] = sk.hex()
    # Seeded key pairs must interoperate: seal from pair 1 to pair 2 and open it.
    pk1, sk1 = b.box_seed_keypair(bytes(range(32)))
    pk2, sk2 = b.box_seed_keypair(b"\xa5" * 32)
    sealed = b.box_easy(b"grant", bytes(24), pk2, bytes(sk1))
    out["box/seeded"] = sealed.hex()
    assert b.box_open_easy(sealed, bytes(24), pk1, bytes(sk2)) == b"grant"


def _sign_vector(b: Backend, out: dict[str, str], i: int) -> None:
    seed, pk_hex, message, sig_hex = ED25519[i]
    pk, sk = b.sign_seed_keypair(bytes.fromhex(seed))
    assert type(pk) is bytes and type(sk) is bytearray and len(sk) == 64
    assert pk.hex() == pk_hex, f"RFC 8032 test {i + 1} public key"
    sig = b.sign_detached(message, bytes(sk))
    assert type(sig) is bytes and sig.hex() == sig_hex, f"RFC 8032 test {i + 1} signature"
    # Typed `-> None`; called through `object` so the check that Pyodide's returns None stays.
    verify: Callable[[bytes, bytes, bytes], object] = b.sign_verify_detached
    assert verify(sig, message, pk) is None
    other_pk = bytes.fromhex(ED25519[1 - i][1])
    _expect_auth_error(
        f"sign {i} message", lambda: b.sign_verify_detached(sig, message + b"\x00", pk)
    )
    _expect_auth_error(
        f"sign {i} signature", lambda: b.sign_verify_detached(_flip(sig, 10), message, pk)
    )
    _expect_auth_error(
        f"sign {i} other key", lambda: b.sign_verify_detached(sig, message, other_pk)
    )
    _expect_auth_error(
        f"sign {i} short signature", lambda: b.sign_verify_detached(sig[:63], message, pk)
    )
    out[f"sign/{i}/sk"] = sk.hex()
    out[f"sign/{i}/sig"] = sig.hex()


def _sign(b: Backend, out: dict[str, str]) -> None:
    for i in range(len(ED25519)):
        _sign_vector(b, out, i)
    _, sk = b.sign_seed_keypair(bytes(32))
    long_message = bytes(range(256)) * 40
    out["sign/long"] = b.sign_detached(long_message, bytes(sk)).hex()


def _random(b: Backend) -> None:
    draws = [b.random_bytes(32) for _ in range(4)]
    assert all(type(d) is bytes and len(d) == 32 for d in draws)
    assert len(set(draws)) == 4, "random_bytes repeated itself"
    assert b.random_bytes(0) == b""
    assert len(b.random_bytes(100_000)) == 100_000


def run_checks(
    backend: Backend | None = None, argon2_cases: list[str] | None = None
) -> dict[str, str]:
    """Run every check; return each deterministic output as hex, keyed by check name."""
    b = backend if backend is not None else get_backend()
    out: dict[str, str] = {"backend": b.name}
    _argon2(b, out, argon2_cases)
    _blake2b(b, out)
    _aead(b, out)
    _box(b, out)
    _sign(b, out)
    _random(b)
    return out
