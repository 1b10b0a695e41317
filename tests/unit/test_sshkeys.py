"""ssh-key items' signing helpers: expiry, RSA numbers and repeated RSA signatures (the
first one checks the key, later ones skip that check) verified by pyca/cryptography."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from native.sshagent import keys
from native.sshagent.side import expired
from tests.vectors.sshkeys import ECDSA_P256, RSA_3072
from vault_core import sshkeys
from vault_core.errors import InvalidItemError

DAY = datetime.date(2026, 6, 15)


def test_an_item_may_be_used_through_its_expiry_date_and_not_after() -> None:
    assert not expired(None, DAY)
    assert not expired("2026-06-16", DAY)
    assert not expired("2026-06-15", DAY)  # the last day it may be used
    assert expired("2026-06-14", DAY)
    assert expired("not a date", DAY)  # never trusted


def test_rsa_numbers_are_the_keys_own() -> None:
    n, e, d, iqmp, p, q = sshkeys.rsa_numbers(RSA_3072)
    loaded = serialization.load_ssh_private_key(RSA_3072.encode(), None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    numbers = loaded.private_numbers()
    assert (n, e, d, iqmp) == (
        numbers.public_numbers.n,
        numbers.public_numbers.e,
        numbers.d,
        numbers.iqmp,
    )
    assert {p, q} == {numbers.p, numbers.q}
    with pytest.raises(InvalidItemError):
        sshkeys.rsa_numbers(ECDSA_P256)


def test_rsa_signatures_verify_each_time() -> None:
    public = serialization.load_ssh_public_key(
        sshkeys.parse_private(RSA_3072).public_line().encode()
    )
    assert isinstance(public, rsa.RSAPublicKey)
    for data, flag, name, digest in (
        (b"first", keys.RSA_SHA2_512, b"rsa-sha2-512", hashes.SHA512()),
        (b"second", keys.RSA_SHA2_512, b"rsa-sha2-512", hashes.SHA512()),
        (b"third", keys.RSA_SHA2_256, b"rsa-sha2-256", hashes.SHA256()),
    ):
        blob = keys.sign(RSA_3072, data, flag)
        name_len = int.from_bytes(blob[:4], "big")
        assert blob[4 : 4 + name_len] == name
        signature = blob[8 + name_len :]
        public.verify(signature, data, padding.PKCS1v15(), digest)  # raises if wrong
    with pytest.raises(ValueError):
        keys.sign(RSA_3072, b"sha1", 0)
