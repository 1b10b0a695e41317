"""Vault history: kept by age and count, bounded in size, and out of reach of a flood.

The red-team finding these stand for: a stolen machine token made 11 writes of blobs with
a valid header and garbage contents and flushed the 10 kept revisions, so the vault was
gone. Every earlier revision must stay restorable and decryptable (real vaults from
vault_core), a flood must get 429, and a full history must refuse writes, never drop
revisions.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, func, select, update

from server.app import create_app
from server.db import utcnow
from server.encoding import b64url_decode
from server.models import Vault as VaultRow
from server.models import VaultVersion
from tests.native.support import FAST_KDF, PASSPHRASE
from vault_core import Item, Vault

from .conftest import Api, Device, SettingsFactory, User

# The flood test's window: fixed windows start at multiples of their length since the
# epoch, and the next multiple of this one is in 2033, so no run straddles two windows.
LONG_WINDOW = 10**9


def _item(name: str) -> Item:
    return Item(name=name, kind="github", url="https://github.com", secret=secrets.token_hex(20))


def _names(blob: bytes, account_id: str) -> set[str]:
    """Opens and fully verifies blob as the owner's client does; the items' names."""
    vault = Vault.open(blob, PASSPHRASE, account_id=uuid.UUID(account_id))
    try:
        return {i.name for i in vault.items()}
    finally:
        vault.lock()


def _revisions(api: Api, user: User, **query: int) -> list[int]:
    r = api.history(user, **query)
    assert r.status_code == 200, r.text
    return [v["revision"] for v in r.json()]


def _age(database_url: str, account_id: str, upto: int, days: int) -> None:
    """Makes revisions 1..upto `days` old, as if that much time had passed since."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            update(VaultVersion)
            .where(VaultVersion.account_id == uuid.UUID(account_id), VaultVersion.revision <= upto)
            .values(created_at=utcnow() - timedelta(days=days))
        )
    engine.dispose()


@contextmanager
def _instances(
    settings_factory: SettingsFactory, api: Api, n: int, **over: Any
) -> Iterator[list[Api]]:
    """n more app instances on the same database (as in a cluster), with these settings."""
    apps = [create_app(settings_factory(**over)) for _ in range(n)]
    try:
        yield [Api(a, api.idp) for a in apps]
    finally:
        for a in apps:
            a.state.zk.engine.dispose()


METRICS_TOKEN = "metrics-" + "m" * 24


def _write_limited(instance: Api) -> float:
    """zkvault_rate_limited_total{limit="write"} as the instance's /metrics shows it."""
    r = instance.anon.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200, r.text
    series = 'zkvault_rate_limited_total{limit="write"} '
    found = [float(line[len(series) :]) for line in r.text.splitlines() if line.startswith(series)]
    return sum(found)


def test_garbage_writes_with_a_stolen_token_leave_every_revision_restorable(api: Api) -> None:
    owner = api.sign_in()
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
    contents: dict[int, set[str]] = {}
    for name in ("github-ci", "gitlab-deploy", "npm-publish"):
        vault.add(_item(name))
        r = api.put_vault(owner, vault.revision, vault.save())
        assert r.status_code == 200, r.text
        contents[r.json()["revision"]] = {i.name for i in vault.items()}
    real = max(contents)
    # The thief's machine token: 12 writes, each a valid header over garbage.
    thief = api.pair(owner)
    for rev in range(real + 1, real + 13):
        garbage = api.blob(owner.account_id, rev, vault.vault_id, secrets.token_bytes(300))
        r = api.put_vault(thief, rev - 1, garbage)
        assert r.status_code == 200, r.text
    current = real + 12
    assert _revisions(api, owner) == list(range(current, 0, -1))
    for rev, names in contents.items():
        kept = api.kept(owner, rev)
        assert kept.status_code == 200, kept.text
        assert _names(b64url_decode(kept.json()["blob"]), owner.account_id) == names
    # The owner restores each of them in turn: its items re-sealed on top of the garbage.
    for rev, names in contents.items():
        old = Vault.open(
            b64url_decode(api.kept(owner, rev).json()["blob"]),
            PASSPHRASE,
            account_id=uuid.UUID(owner.account_id),
        )
        old.revision = current
        r = api.restore(owner, rev, current, old.save())
        assert r.status_code == 200 and r.json()["revision"] == current + 1, r.text
        current += 1
        now = b64url_decode(api.get_vault(owner).json()["blob"])
        assert _names(now, owner.account_id) == names


def test_a_write_flood_gets_429_across_instances_and_loses_nothing(
    api: Api, settings_factory: SettingsFactory
) -> None:
    owner = api.sign_in()
    thief = api.pair(owner)
    vid = uuid.uuid4()
    limit = 5
    with _instances(
        settings_factory,
        api,
        2,
        rate_vault_writes_per_client=limit,
        rate_vault_write_window_seconds=LONG_WINDOW,
        metrics_token=METRICS_TOKEN,
    ) as (a, b):
        refused_before = _write_limited(a)
        landed = []
        for rev in range(1, limit + 1):  # alternating instances: one shared counter
            blob = api.blob(owner.account_id, rev, vid)
            r = (a if rev % 2 else b).put_vault(thief, rev - 1, blob)
            assert r.status_code == 200, r.text
            landed.append(blob)
        flood = [
            x.put_vault(thief, limit, api.blob(owner.account_id, limit + 1, vid)) for x in (a, b)
        ]
        for r in flood:
            assert (r.status_code, r.json()["code"]) == (429, "rate_limited"), r.text
            assert 0 < int(r.headers["Retry-After"]) <= LONG_WINDOW
        assert _write_limited(a) - refused_before >= 1  # what operators alert on
        # Nothing of the refused writes landed; every accepted one is still there.
        got = a.get_vault(owner).json()
        assert (got["revision"], b64url_decode(got["blob"])) == (limit, landed[-1])
        for rev, blob in enumerate(landed, 1):
            assert b64url_decode(a.kept(owner, rev).json()["blob"]) == blob
        # The limit is the flooding client's: the owner's own session still saves.
        r = b.put_vault(owner, limit, api.blob(owner.account_id, limit + 1, vid))
        assert r.status_code == 200, r.text


def test_every_young_revision_is_kept_and_old_ones_beyond_the_newest_ten_go(
    api: Api, database_url: str
) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()

    def write(rev: int) -> None:
        r = api.put_vault(user, rev - 1, api.blob(user.account_id, rev, vid))
        assert r.status_code == 200, r.text

    for rev in range(1, 21):
        write(rev)
    assert _revisions(api, user) == list(range(20, 0, -1))
    # Revisions 1..6 are now 31 days old: the next write lets them go, the rest stay young.
    _age(database_url, user.account_id, 6, 31)
    write(21)
    assert _revisions(api, user) == list(range(21, 6, -1))
    # All of them old: the newest ten are kept whatever their age.
    _age(database_url, user.account_id, 21, 31)
    write(22)
    assert _revisions(api, user) == list(range(22, 12, -1))
    # Pages: newest first, `before` the last revision of the page before.
    assert _revisions(api, user, limit=4) == [22, 21, 20, 19]
    assert _revisions(api, user, limit=4, before=19) == [18, 17, 16, 15]
    assert _revisions(api, user, limit=4, before=15) == [14, 13]


def test_a_full_history_refuses_writes_and_drops_no_revision(
    api: Api, settings_factory: SettingsFactory, database_url: str
) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()
    body = secrets.token_bytes(400_000)  # three of these exceed the 1 MiB bound
    with _instances(
        settings_factory, api, 1, vault_history=1, vault_history_max_bytes=1024 * 1024
    ) as (a,):
        for rev in (1, 2):
            r = a.put_vault(user, rev - 1, api.blob(user.account_id, rev, vid, body))
            assert r.status_code == 200, r.text
        third = api.blob(user.account_id, 3, vid, body)
        r = a.put_vault(user, 2, third)
        assert (r.status_code, r.json()["code"]) == (507, "history_full"), r.text
        assert a.get_vault(user).json()["revision"] == 2
        assert _revisions(a, user) == [2, 1]
        # A stale write is still told it is stale, not that history is full.
        r = a.put_vault(user, 1, api.blob(user.account_id, 2, vid, body))
        assert (r.status_code, r.json()["code"]) == (409, "revision_conflict"), r.text
        # Once the old revisions age past the bound, the write fits again.
        _age(database_url, user.account_id, 2, 31)
        r = a.put_vault(user, 2, third)
        assert r.status_code == 200, r.text
        assert _revisions(a, user) == [3]
        # The room made is counted: one more fits, the next again does not.
        r = a.put_vault(user, 3, api.blob(user.account_id, 4, vid, body))
        assert r.status_code == 200, r.text
        r = a.put_vault(user, 4, api.blob(user.account_id, 5, vid, body))
        assert (r.status_code, r.json()["code"]) == (507, "history_full"), r.text
        assert _revisions(a, user) == [4, 3]


def test_a_revoked_session_can_neither_save_nor_restore(api: Api) -> None:
    """Save and restore share one path: revocation is checked for both, before a restore's
    revision or blob is looked at, and nothing lands."""
    user = api.sign_in()
    vid = uuid.uuid4()
    for rev in (1, 2):
        assert api.put_vault(user, rev - 1, api.blob(user.account_id, rev, vid)).is_success
    logout = user.browser.post("/auth/logout", headers=user.csrf(), auth=user.proof)
    assert logout.status_code == 204
    tries = [
        api.put_vault(user, 2, api.blob(user.account_id, 3, vid)),
        api.put_vault(user, 2, b"not a vault"),
        api.restore(user, 1, 2, api.blob(user.account_id, 3, vid)),
        api.restore(user, 99, 2, api.blob(user.account_id, 3, vid)),
        api.restore(user, 1, 2, b"not a vault"),
    ]
    assert [(r.status_code, r.json()["code"]) for r in tries] == [(401, "revoked")] * len(tries)
    again = api.sign_in(sub=user.sub)
    assert api.get_vault(again).json()["revision"] == 2


def test_the_kept_total_stays_exact_when_writers_race_while_pruning(
    api: Api, database_url: str
) -> None:
    """Two clients race (each retrying on 409) while every write also lets an aged revision
    go: the bound's running total must stay the sum of what is kept, and nothing young or
    among the newest ten may go."""
    user = api.sign_in()
    vid = uuid.uuid4()
    for rev in range(1, 13):
        body = secrets.token_bytes(100 * rev)
        assert api.put_vault(user, rev - 1, api.blob(user.account_id, rev, vid, body)).is_success
    _age(database_url, user.account_id, 12, 31)
    writers: list[User | Device] = [api.sign_in(sub=user.sub), api.pair(user)]
    landed: list[int] = []
    lock = threading.Lock()

    def write(who: User | Device, tag: int) -> None:
        own = Api(api.app, api.idp)  # a client of its own per thread
        for i in range(6):
            while True:
                base = own.get_vault(who).json()["revision"]
                body = bytes([tag, i]) * (50 + 37 * i)
                r = own.put_vault(who, base, api.blob(user.account_id, base + 1, vid, body))
                if r.status_code == 200:
                    with lock:
                        landed.append(int(r.json()["revision"]))
                    break
                assert r.status_code == 409, r.text

    threads = [threading.Thread(target=write, args=(w, n)) for n, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(landed) == list(range(13, 25))
    # The 12 new revisions are young; of the aged ones only those among the newest ten
    # overall could stay, and the newest ten are all young now: the aged ones are gone.
    assert _revisions(api, user) == list(range(24, 12, -1))
    engine = create_engine(database_url)
    with engine.connect() as conn:
        total = conn.scalar(
            select(VaultRow.history_bytes).where(VaultRow.account_id == uuid.UUID(user.account_id))
        )
        kept = conn.scalar(
            select(func.sum(VaultVersion.size)).where(
                VaultVersion.account_id == uuid.UUID(user.account_id)
            )
        )
    engine.dispose()
    assert total == kept
