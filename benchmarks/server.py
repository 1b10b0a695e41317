"""Server benchmark: authenticated vault read and write on PostgreSQL, 32 clients.

One command: `.venv/bin/python benchmarks/server.py`. It creates a throwaway
PostgreSQL database, migrates it, starts two `zkvault-server` instances on it
(production mode, uvicorn workers) and a real HAProxy in front of them (the
configuration docs/operations.md recommends), seeds one account per client, then
drives the same load first at one instance directly, then at both through the
balancer, over loopback with persistent HTTP/1.1 connections from a small asyncio
client (cheap per request, so the load generator steals as little of the two
cores as it can). Each side's /healthz is the framework baseline. Prints one
side-by-side table and whether each target (docs/architecture.md) is met, or by how
much it is missed:
reads >= 1,500 req/s with p99 <= 50 ms and >= 0.5 x /healthz; writes >= 300
req/s; <= 60 MiB RSS per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from native.dpop import DpopKey  # noqa: E402
from server.db import utcnow  # noqa: E402
from server.encoding import b64url_encode  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.models import Account, Client  # noqa: E402
from server.tokens import KeyRing  # noqa: E402

PUBLIC_URL = "https://zkvault.bench.invalid"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vault_blob(account: uuid.UUID, vault: uuid.UUID, revision: int, size: int) -> bytes:
    header = struct.pack(">4sH16s16sQ", b"ZKVT", 1, account.bytes, vault.bytes, revision)
    return header + b"\x5a" * (size - len(header))


@dataclass
class Seat:
    account: uuid.UUID
    vault: uuid.UUID
    token: str
    key: DpopKey  # each request carries a fresh proof by it, as a real client's does
    revision: int = 0


class Conn:
    """One keep-alive HTTP/1.1 connection; just enough protocol for this server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        return status, body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _auth(seat: Seat, method: str) -> str:
    proof = seat.key.proof(method, PUBLIC_URL + "/api/vault", seat.token)
    return f"Authorization: DPoP {seat.token}\r\nDPoP: {proof}\r\n"


def get_request(seat: Seat) -> bytes:
    return (f"GET /api/vault HTTP/1.1\r\nHost: 127.0.0.1\r\n{_auth(seat, 'GET')}\r\n").encode()


def put_request(seat: Seat, size: int) -> bytes:
    blob = vault_blob(seat.account, seat.vault, seat.revision + 1, size)
    body = json.dumps({"base_revision": seat.revision, "blob": b64url_encode(blob)}).encode()
    return (
        f"PUT /api/vault HTTP/1.1\r\nHost: 127.0.0.1\r\n{_auth(seat, 'PUT')}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def drive(
    port: int, seats: list[Seat], op: str, seconds: float, warmup: float, size: int
) -> tuple[int, list[float], Counter[int]]:
    conns = [await Conn.open(port) for _ in seats]
    latencies: list[float] = []
    errors: Counter[int] = Counter()  # status -> count, for every answer but 200
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds

    async def client(conn: Conn, seat: Seat) -> None:
        while True:
            # A proof is single use: a new one per request (made before the clock starts).
            if op == "healthz":
                raw = HEALTHZ
            else:
                raw = put_request(seat, size) if op == "write" else get_request(seat)
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            try:
                status, _ = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError):
                status = 0  # the connection closed without an answer: counted, reopened
                conn.writer.close()
                conn = await Conn.open(port)
            t1 = time.perf_counter()
            if status == 200 and op == "write":
                seat.revision += 1
            if t0 >= measure_from:
                if status == 200:
                    latencies.append(t1 - t0)
                else:
                    errors[status] += 1

    await asyncio.gather(*(client(c, s) for c, s in zip(conns, seats, strict=True)))
    for c in conns:
        c.writer.close()
    return len(latencies), latencies, errors


def run(coro: Any) -> Any:
    """uvloop when present: the load generator should cost the server little CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def server_pids(pid: int) -> list[int]:
    """The uvicorn parent and its worker processes."""
    pids = [pid]
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                if f"PPid:\t{pid}\n" in (child / "status").read_text():
                    pids.append(int(child.name))
            except OSError:
                continue
    return pids


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[p] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two samples; a process born in between counts from zero."""
    return sum(t - before.get(p, 0.0) for p, t in after.items())


def postgres_pids() -> list[int]:
    found = []
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                if (child / "comm").read_text().strip() == "postgres":
                    found.append(int(child.name))
            except OSError:
                continue
    return found


def rss_mib(pid: int, field: str = "VmRSS:", source: str = "status") -> float:
    for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mib(pid: int) -> float:
    """Proportional set size: shared pages (libraries) split between their users."""
    return rss_mib(pid, "Pss:", "smaps_rollup")


def worker_rss(pid: int) -> tuple[float, float, float]:
    """(largest worker's RSS, its PSS, the supervising parent's RSS) in MiB; with one
    worker uvicorn serves in the parent itself, which then is the worker."""
    workers = server_pids(pid)[1:]
    if not workers:
        return rss_mib(pid), pss_mib(pid), 0.0
    largest = max(workers, key=rss_mib)
    return rss_mib(largest), pss_mib(largest), rss_mib(pid)


def seed(url: str, seed_key: str, clients: int, size: int) -> list[Seat]:
    engine = create_engine(url)
    upgrade(engine)
    keys = KeyRing([seed_key], PUBLIC_URL, 3600)
    seats = []
    with engine.begin() as conn:
        for i in range(clients):
            account, client = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                insert(Account).values(
                    id=account,
                    issuer="https://idp.bench.invalid",
                    subject=f"bench-{i}",
                    name=f"Bench {i}",
                    email=f"bench{i}@example.invalid",
                    created_at=utcnow(),
                )
            )
            key = DpopKey.generate()
            conn.execute(
                insert(Client).values(
                    id=client,
                    account_id=account,
                    kind="web",
                    name="bench",
                    dpop_jkt=key.thumbprint,
                    created_at=utcnow(),
                )
            )
            token = keys.issue(account, client, "web", key.thumbprint)[0]
            seats.append(Seat(account, uuid.uuid4(), token, key))
    engine.dispose()
    return seats


@dataclass
class Measured:
    rps: float
    p50: float
    p99: float
    errors: Counter[int]
    server_cpu_ms: float  # CPU per request in the server processes (and the balancer)
    pg_cpu_ms: float


def measure(
    port: int, seats: list[Seat], op: str, pids: list[int], args: argparse.Namespace
) -> Measured:
    s0 = cpu_by_pid([q for p in pids for q in server_pids(p)])
    p0 = cpu_by_pid(postgres_pids())
    n, lat, errs = run(drive(port, seats, op, args.seconds, args.warmup, args.vault_bytes))
    s1 = cpu_by_pid([q for p in pids for q in server_pids(p)])
    p1 = cpu_by_pid(postgres_pids())
    # Requests in the warm-up also cost CPU: count them at the measured rate.
    total = max(1, n + errs.total()) * (args.seconds + args.warmup) / args.seconds
    return Measured(
        n / args.seconds,
        pct(lat, 50) if lat else 0.0,
        pct(lat, 99) if lat else 0.0,
        errs,
        1000 * cpu_spent(s0, s1) / total,
        1000 * cpu_spent(p0, p1) / total,
    )


def production_env(url: str, seed_key: str) -> dict[str, str]:
    """A production-mode instance's settings on database ``url``, signing with
    ``seed_key`` (the one ``seed`` minted its tokens with)."""
    return {
        **os.environ,
        "ZKVAULT_ENVIRONMENT": "production",
        "ZKVAULT_DATABASE_URL": url,
        "ZKVAULT_PUBLIC_URL": PUBLIC_URL,
        "ZKVAULT_SIGNING_KEYS": json.dumps([seed_key]),
        "ZKVAULT_TOKEN_SECRETS": json.dumps([b64url_encode(secrets.token_bytes(32))]),
        "ZKVAULT_OIDC_ISSUER": "https://idp.bench.invalid",
        "ZKVAULT_OIDC_CLIENT_SECRET": secrets.token_urlsafe(16),
        "ZKVAULT_LOG_LEVEL": "warning",
    }


def start_instance(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/zkvault-server"), "serve"], env={**env, "ZKVAULT_PORT": str(port)}
    )
    wait_port(port, proc)
    return proc


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)


def describe(errors: Counter[int]) -> str:
    named = {0: "closed"}
    return ", ".join(f"{n} x {named.get(st, st)}" for st, n in sorted(errors.items())) or "0"


def verdict(ok: bool, shortfall: str) -> str:
    return "met" if ok else f"MISSED by {shortfall}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="an existing database to connect to for CREATE DATABASE",
    )
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers per instance")
    ap.add_argument("--pool", type=int, default=20, help="DB connections per worker")
    ap.add_argument("--vault-bytes", type=int, default=8192)
    args = ap.parse_args()

    from tests.support import haproxy

    name = f"zkv_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = psycopg.connect(args.pg, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    instances: list[subprocess.Popen[bytes]] = []
    balancer = None
    columns: dict[str, dict[str, Measured]] = {"one": {}, "two": {}}
    rss: dict[str, tuple[float, float, float]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="zkv-bench-"))
    try:
        seed_key = b64url_encode(secrets.token_bytes(32))
        seats = seed(url, seed_key, args.clients, args.vault_bytes)
        env = {
            **production_env(url, seed_key),
            "ZKVAULT_WORKERS": str(args.workers),
            "ZKVAULT_DB_POOL_SIZE": str(args.pool),
            "ZKVAULT_DB_MAX_OVERFLOW": "0",
            # Each seat writes as fast as it can: far over the per-client write limit.
            "ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT": "1000000000",
        }
        ports = {"zk1": free_port(), "zk2": free_port()}
        instances = [start_instance(env, port) for port in ports.values()]
        balancer = haproxy.start(workdir, ports, check_interval="2s")  # as in the docs
        time.sleep(2.0)  # let every worker finish importing
        rss["idle"] = worker_rss(instances[0].pid)
        load_before = os.getloadavg()[0]
        lb_port = int(balancer.url.rsplit(":", 1)[1])
        targets = (
            ("one", ports["zk1"], [instances[0].pid]),
            ("two", lb_port, [p.pid for p in instances] + [balancer.proc.pid]),
        )
        # Interleaved, so the other load on a shared machine drifts over both columns alike.
        for op in ("write", "read", "healthz"):  # write first: reads need a vault
            for column, port, pids in targets:
                columns[column][op] = measure(port, seats, op, pids, args)
        for column, _port, _pids in targets:
            rss[column] = worker_rss(instances[0].pid)
        load_after = os.getloadavg()[0]
    finally:
        if balancer is not None:
            balancer.stop()
        for proc in instances:
            proc.terminate()
            proc.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    report(args, columns, rss, (load_before, load_after))
    return 0


def report(
    args: argparse.Namespace,
    columns: dict[str, dict[str, Measured]],
    rss: dict[str, tuple[float, float, float]],
    load: tuple[float, float],
) -> None:
    print(
        f"zkvault server on PostgreSQL: {args.clients} clients, {args.workers} uvicorn "
        f"workers per instance, {args.pool} DB connections each, {args.vault_bytes}-byte "
        f"vault, {args.seconds:.0f} s per figure, {os.cpu_count()} cores shared with the "
        f"load generator and PostgreSQL; 1-min load average {load[0]:.1f} -> {load[1]:.1f}"
    )
    one, two = columns["one"], columns["two"]
    rows: list[tuple[str, Callable[[dict[str, Measured]], str]]] = [
        ("/healthz req/s (baseline)", lambda m: f"{m['healthz'].rps:,.0f}"),
        ("/healthz p99 ms", lambda m: f"{m['healthz'].p99:.1f}"),
        ("reads req/s", lambda m: f"{m['read'].rps:,.0f}"),
        ("reads p50 / p99 ms", lambda m: f"{m['read'].p50:.1f} / {m['read'].p99:.1f}"),
        ("reads / /healthz", lambda m: f"{m['read'].rps / max(1.0, m['healthz'].rps):.2f}"),
        ("writes req/s", lambda m: f"{m['write'].rps:,.0f}"),
        ("writes p50 / p99 ms", lambda m: f"{m['write'].p50:.1f} / {m['write'].p99:.1f}"),
        (
            "answers other than 200",
            lambda m: describe(sum((x.errors for x in m.values()), Counter())),
        ),
        ("server (+HAProxy) CPU per /healthz ms", lambda m: f"{m['healthz'].server_cpu_ms:.2f}"),
        ("server (+HAProxy) CPU per read ms", lambda m: f"{m['read'].server_cpu_ms:.2f}"),
        ("server (+HAProxy) CPU per write ms", lambda m: f"{m['write'].server_cpu_ms:.2f}"),
        ("PostgreSQL CPU per read ms", lambda m: f"{m['read'].pg_cpu_ms:.2f}"),
    ]
    print(f"  {'':38} {'one instance':>16} {'two behind HAProxy':>20}")
    for label, cell in rows:
        print(f"  {label:38} {cell(one):>16} {cell(two):>20}")
    worker, pss, parent = rss["one"]
    print(
        f"  RSS per worker: {rss['idle'][0]:.0f} MiB idle, {worker:.0f} MiB after the run "
        f"(PSS {pss:.0f} MiB; uvicorn's supervising parent: {parent:.0f} MiB RSS)"
    )
    print("  targets (one instance, this run):")
    read, health, write = one["read"], one["healthz"], one["write"]
    print(
        f"    reads >= 1,500 req/s: "
        f"{verdict(read.rps >= 1500, f'{1500 - read.rps:,.0f} req/s')}; "
        f"p99 <= 50 ms: {verdict(read.p99 <= 50, f'{read.p99 - 50:.1f} ms')}; "
        f">= 0.5 x /healthz: "
        f"{verdict(read.rps >= 0.5 * health.rps, f'{0.5 * health.rps - read.rps:,.0f} req/s')}"
    )
    print(f"    writes >= 300 req/s: {verdict(write.rps >= 300, f'{300 - write.rps:,.0f} req/s')}")
    print(f"    <= 60 MiB RSS per worker: {verdict(worker <= 60, f'{worker - 60:.0f} MiB')}")


if __name__ == "__main__":
    sys.exit(main())
