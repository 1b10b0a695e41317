"""Controls for the hostile layer itself: the scan finds a secret that does pass through
it, a lie that never matched fails its case, and the lie shapes the key-substitution
cases need (a runner's public key, a pairing poll answer) change what a client receives
and nothing the server holds."""

from __future__ import annotations

import base64
import secrets

import httpx
import pytest
from nacl.signing import SigningKey

from tests.hostile import lies
from tests.hostile.stage import Stage, sign_in
from tests.support.dpop import DpopKey
from tests.support.leaks import scan


def test_the_scan_finds_a_secret_that_passed_through(stage: Stage) -> None:
    marker = "hostile-control-" + secrets.token_urlsafe(18)  # not one of the stage's secrets
    at = stage.proxy.mark()
    httpx.post(
        stage.url + "/api/pairings",
        json={"kind": "machine", "name": marker, "public_key": "A" * 43},
        auth=DpopKey().auth(),
        timeout=30,
    )
    httpx.get(stage.url + "/healthz", params={"q": base64.b64encode(marker.encode()).decode()})
    hits = scan({"proxy traffic": stage.proxy.seen_since(at)}, {"marker": marker})
    assert {h.form for h in hits} >= {"raw", "base64"}, hits


def test_a_lie_that_never_matched_fails_the_case(stage: Stage) -> None:
    unused = lies.vault_blob("never asked for", lambda blob: blob)
    with pytest.raises(AssertionError, match="never told"), stage.proxy.telling(unused):
        httpx.get(stage.url + "/healthz", timeout=30)


def test_a_runner_key_and_a_poll_answer_can_be_substituted(stage: Stage) -> None:
    owner = sign_in(stage, "grace")
    real_key = lies.b64e(secrets.token_bytes(32))
    runner = DpopKey()
    created = httpx.post(
        stage.url + "/api/pairings",
        json={"kind": "runner", "name": "ci", "public_key": real_key},
        auth=runner.auth(),
        timeout=30,
    ).json()
    grant_key = bytes(SigningKey.generate().verify_key)  # an owner's grant key, as approval needs
    owner.approve(created["code"], grant_public_key=lies.b64e(grant_key))
    forged_key = lies.b64e(secrets.token_bytes(32))
    swap = lies.each_runner("substituted runner key", lambda r: {**r, "public_key": forged_key})
    poll = lies.pairing_poll("substituted poll answer", lambda a: {**a, "account_id": "x"})
    with stage.proxy.telling(swap, poll):
        answer = httpx.post(  # the claim: the runner exists from here on
            stage.url + "/api/pairings/poll",
            json={"pairing_id": created["pairing_id"], "poll_secret": created["poll_secret"]},
            auth=runner.auth(),
            timeout=30,
        ).json()
        (listed,) = owner.call("GET", "/api/runners").json()
    (stored,) = owner.call("GET", "/api/runners").json()  # the lie off: what the server holds
    assert listed["public_key"] == forged_key and answer["account_id"] == "x"
    assert answer["status"] == "approved"
    assert stored["public_key"] == real_key and stored["id"] == listed["id"]
