"""One watcher per app instance serves every waiting long poll (GET /api/vault/head).

Waiting requests register here and sleep on a future; the watcher (one thread) wakes
them. On PostgreSQL it holds one connection that LISTENs for the notices writes and
revocations send in their transaction (services/headnotify.py) and re-reads every
waiter's head each ``head_recheck_seconds``; after a lost connection it reconnects and
re-reads at once. On SQLite it re-reads every waiter's head each ``head_poll_seconds``
in one statement, and at once after a commit in this process. A notice is only a hint:
what wakes a waiter is a revision or revocation read from the database (or carried by
the database's own notice), so a missed notice delays an answer, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, bindparam, make_url, select

from .models import Client, Vault
from .services import headnotify
from .settings import Settings

log = logging.getLogger("zkvault.server")

_CHUNK = 500  # client ids per re-read statement (SQLite's variable limit is far above)
_HEADS = (
    select(Client.id, Client.account_id, Client.revoked_at, Vault.revision)
    .select_from(Client)
    .outerjoin(Vault, Vault.account_id == Client.account_id)
    .where(Client.id.in_(bindparam("ids", expanding=True)))
)


@dataclass(frozen=True, slots=True)
class Woken:
    """Why a wait ended early: a new revision, the client revoked, or the server stopping."""

    revision: int | None = None
    revoked: bool = False
    closing: bool = False


@dataclass(eq=False)
class Waiter:
    client_id: uuid.UUID
    account_id: uuid.UUID
    after: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Woken] = field(init=False)
    parked: bool = False  # past its first read, only waiting now (what the gauge counts)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()


class HeadWatcher:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.s = settings
        self.engine = engine
        self._lock = threading.Lock()
        self._waiters: set[Waiter] = set()
        self._per_client: Counter[uuid.UUID] = Counter()
        self._per_account: Counter[uuid.UUID] = Counter()
        self._thread: threading.Thread | None = None
        self._look = threading.Event()  # re-read now (a local commit)
        self._closing = False
        headnotify.on_local_change(self)

    # -- the request side -------------------------------------------------------------

    def register(self, client_id: uuid.UUID, account_id: uuid.UUID, after: int) -> Waiter | None:
        """A place in the queue, or None when a cap is reached or the server is stopping
        (the caller then answers at once)."""
        waiter = Waiter(client_id, account_id, after, asyncio.get_running_loop())
        with self._lock:
            if (
                self._closing
                or len(self._waiters) >= self.s.head_waits_total
                or self._per_account[account_id] >= self.s.head_waits_per_account
                or self._per_client[client_id] >= self.s.head_waits_per_client
            ):
                return None
            self._waiters.add(waiter)
            self._per_client[client_id] += 1
            self._per_account[account_id] += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="zkvault-head-watcher", daemon=True
                )
                self._thread.start()
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        with self._lock:
            self._drop(waiter)

    def waiting(self) -> int:
        with self._lock:
            return sum(1 for w in self._waiters if w.parked)

    def poke(self) -> None:
        """Something changed in this process's database: re-read now (SQLite)."""
        self._look.set()

    def stop_soon(self) -> None:
        """Called from a signal handler, so it only sets a flag: no lock (not even the
        Event's, which the interrupted code may hold). The watcher thread sees it within
        a tick (at most head_poll_seconds, or half a second on PostgreSQL) and wakes every
        waiter."""
        self._closing = True

    # -- the watcher side -------------------------------------------------------------

    def _drop(self, waiter: Waiter) -> bool:
        if waiter not in self._waiters:
            return False
        self._waiters.discard(waiter)
        for counts, key in (
            (self._per_client, waiter.client_id),
            (self._per_account, waiter.account_id),
        ):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]
        return True

    def _wake(self, waiters: list[Waiter], woken: Woken) -> None:
        with self._lock:
            waiters = [w for w in waiters if self._drop(w)]
        for w in waiters:
            # RuntimeError: its event loop is gone, and the request with it.
            with contextlib.suppress(RuntimeError):
                w.loop.call_soon_threadsafe(_settle, w.future, woken)

    def _wake_all_closing(self) -> None:
        with self._lock:
            everyone = list(self._waiters)
        self._wake(everyone, Woken(closing=True))

    def recheck(self) -> None:
        """Reads every waiter's head (one statement per _CHUNK clients) and wakes those
        whose revision moved or whose client is revoked, unknown or moved."""
        with self._lock:
            waiters = list(self._waiters)
        if not waiters:
            return
        ids = list({w.client_id for w in waiters})
        heads: dict[uuid.UUID, tuple[uuid.UUID, bool, int]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                for row in conn.execute(_HEADS, {"ids": ids[i : i + _CHUNK]}):
                    heads[row.id] = (row.account_id, row.revoked_at is not None, row.revision or 0)
        revoked: list[Waiter] = []
        moved: dict[int, list[Waiter]] = {}
        for w in waiters:
            head = heads.get(w.client_id)
            if head is None or head[1] or head[0] != w.account_id:
                revoked.append(w)
            elif head[2] != w.after:
                moved.setdefault(head[2], []).append(w)
        self._wake(revoked, Woken(revoked=True))
        for revision, group in moved.items():
            self._wake(group, Woken(revision=revision))

    def _notified(self, payload: str) -> None:
        kind, _, rest = payload.partition(":")
        with self._lock:
            waiters = list(self._waiters)
        try:
            if kind == "r":
                client = uuid.UUID(rest)
                self._wake([w for w in waiters if w.client_id == client], Woken(revoked=True))
            elif kind == "w":
                account_text, _, revision_text = rest.partition(":")
                account, revision = uuid.UUID(account_text), int(revision_text)
                group = [w for w in waiters if w.account_id == account and w.after != revision]
                self._wake(group, Woken(revision=revision))
        except ValueError:
            log.warning("ignored a malformed vault-head notice")

    def _run(self) -> None:
        try:
            if self.engine.dialect.name == "postgresql":
                self._listen()
            else:
                self._poll()
        finally:
            self._wake_all_closing()

    def _poll(self) -> None:
        while not self._closing:
            self._look.wait(self.s.head_poll_seconds)
            self._look.clear()
            if not self._closing:
                self._guarded(self.recheck)

    def _listen(self) -> None:
        import psycopg
        from psycopg.conninfo import make_conninfo

        url = self.engine.url
        if self.s.head_listen_url is not None:
            url = make_url(self.s.head_listen_url.get_secret_value())
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        pause = 1.0
        while not self._closing:
            try:
                with psycopg.connect(
                    make_conninfo(dsn, **self._liveness()), autocommit=True
                ) as conn:
                    conn.execute(f"LISTEN {headnotify.CHANNEL}")
                    pause = 1.0
                    self._listening(conn)
            except (psycopg.Error, OSError) as exc:
                # Whatever was sent while we were away is read back by the re-read that
                # follows the reconnection; until then the periodic re-reads go on.
                log.warning("vault-head listener lost its connection (%s)", type(exc).__name__)
                self._without_listener(pause)
                pause = min(pause * 2, 30.0)

    def _without_listener(self, seconds: float) -> None:
        """Waits ``seconds`` before the next connection attempt, re-reading every
        head_recheck_seconds meanwhile, and noticing a stop within half a second."""
        until = time.monotonic() + seconds
        due = time.monotonic() + self.s.head_recheck_seconds
        while not self._closing and (now := time.monotonic()) < until:
            if now >= due:
                self._guarded(self.recheck)
                due = now + self.s.head_recheck_seconds
            time.sleep(min(0.5, until - now))

    def _liveness(self) -> dict[str, int]:
        """A listener on a silently dead network must notice: TCP keepalives while it
        idles, and a cap on unacknowledged sends (its periodic SELECT 1)."""
        return {
            "connect_timeout": self.s.db_connect_timeout_seconds,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 20_000,
        }

    def _listening(self, conn: object) -> None:
        import psycopg

        assert isinstance(conn, psycopg.Connection)
        self._guarded(self.recheck)  # anything missed before LISTEN took effect
        last = time.monotonic()
        while not self._closing:
            for notice in conn.notifies(timeout=0.5):
                self._notified(notice.payload)
            if time.monotonic() - last >= self.s.head_recheck_seconds:
                conn.execute("SELECT 1")  # a dead listener connection shows up here
                self._guarded(self.recheck)
                last = time.monotonic()

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # the database is away: waiters wait, later re-reads see
            log.warning("vault-head re-read failed (%s)", type(exc).__name__)


def _settle(future: asyncio.Future[Woken], woken: Woken) -> None:
    if not future.done():
        future.set_result(woken)
