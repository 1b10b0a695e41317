"""GET /api/vault/head: the long poll unlocked agents wait on (docs/server.md)."""

from __future__ import annotations

import threading
import time
import uuid

import httpx2

from tests.api.conftest import Api
from tests.support.dpop import DpopAuth


def _head(api: Api, auth: DpopAuth | None, **params: int) -> httpx2.Response:
    return api.client().get("/api/vault/head", params=params, auth=auth)


def test_head_answers_at_once_and_wakes_on_a_write(api: Api) -> None:
    user = api.sign_in()
    machine = api.pair(user)
    r = _head(api, machine.auth)
    assert r.status_code == 200 and r.json() == {"revision": 0}  # no vault yet
    vault_id = uuid.uuid4()
    assert api.put_vault(user, 0, api.blob(user.account_id, 1, vault_id)).status_code == 200
    assert _head(api, machine.auth).json() == {"revision": 1}
    assert _head(api, machine.auth, after=0, wait=30).json() == {"revision": 1}  # differs: at once

    def write_soon() -> None:
        time.sleep(1.0)
        api.put_vault(user, 1, api.blob(user.account_id, 2, vault_id))

    writer = threading.Thread(target=write_soon)
    writer.start()
    started = time.monotonic()
    r = _head(api, machine.auth, after=1, wait=30)
    waited = time.monotonic() - started
    writer.join()
    assert r.status_code == 200 and r.json() == {"revision": 2}
    assert waited < 29  # woken by the write, not by the end of the wait

    r = _head(api, machine.auth, after=2, wait=1)  # nothing changes: the same revision
    assert r.status_code == 200 and r.json() == {"revision": 2}


def test_head_refuses_a_revoked_client_while_it_waits(api: Api) -> None:
    user = api.sign_in()
    machine = api.pair(user)

    def revoke_soon() -> None:
        time.sleep(1.0)
        r = user.browser.delete(f"/api/machines/{machine.client_id}", auth=user.auth)
        assert r.status_code == 200, r.text

    revoker = threading.Thread(target=revoke_soon)
    revoker.start()
    r = _head(api, machine.auth, after=0, wait=30)
    revoker.join()
    assert r.status_code == 401 and r.json()["code"] == "revoked"  # clients wipe on this code


def test_head_checks_its_parameters_and_token(api: Api) -> None:
    user = api.sign_in()
    machine = api.pair(user)
    assert _head(api, machine.auth, after=0, wait=31).status_code == 422
    assert _head(api, machine.auth, after=-1).status_code == 422
    assert _head(api, None).json()["code"] == "dpop_required"
    runner = api.pair(user, kind="runner", name="ci")
    assert _head(api, runner.auth).status_code == 401
