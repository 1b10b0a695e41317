"""Server benchmark: authenticated vault read and write on PostgreSQL, 32 clients.

One command: `.venv/bin/python benchmarks/server.py`. It creates a throwaway
PostgreSQL database, migrates it, starts `zkvault-server` (production mode,
uvicorn workers) as a subprocess, seeds one account per client, then drives it
over loopback with persistent HTTP/1.1 connections from a small asyncio
client (cheap per request, so the load generator steals as little of the two
cores as it can). Prints req/s, p50 and p99 per operation and server RSS.
Targets (docs/architecture.md): read >= 1,500 req/s with p99 <= 50 ms; write >= 300 req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def get_request(token: str) -> bytes:
    return (
        f"GET /api/vault HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def put_request(seat: Seat, size: int) -> bytes:
    blob = vault_blob(seat.account, seat.vault, seat.revision + 1, size)
    body = json.dumps({"base_revision": seat.revision, "blob": b64url_encode(blob)}).encode()
    return (
        f"PUT /api/vault HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {seat.token}"
        f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def drive(
    port: int, seats: list[Seat], op: str, seconds: float, warmup: float, size: int
) -> tuple[int, list[float], int]:
    conns = [await Conn.open(port) for _ in seats]
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds

    async def client(conn: Conn, seat: Seat) -> None:
        nonlocal errors
        reading = get_request(seat.token)
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            raw = reading if op == "read" else put_request(seat, size)
            status, _ = await conn.request(raw)
            t1 = time.perf_counter()
            if status == 200 and op == "write":
                seat.revision += 1
            if t0 >= measure_from:
                if status == 200:
                    latencies.append(t1 - t0)
                else:
                    errors += 1

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


def rss_mib(pid: int) -> float:
    pids = server_pids(pid)
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def seed(url: str, seed_key: str, clients: int, size: int) -> list[Seat]:
    engine = create_engine(url)
    upgrade(engine)
    keys = KeyRing([seed_key], PUBLIC_URL, 3600)
    seats = []
    with engine.begin() as conn:
        for i in range(clients):
            account, client = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                Account.__table__.insert().values(
                    id=account,
                    issuer="https://idp.bench.invalid",
                    subject=f"bench-{i}",
                    name=f"Bench {i}",
                    email=f"bench{i}@example.invalid",
                    created_at=utcnow(),
                )
            )
            conn.execute(
                Client.__table__.insert().values(
                    id=client, account_id=account, kind="web", name="bench", created_at=utcnow()
                )
            )
            seats.append(Seat(account, uuid.uuid4(), keys.issue(account, client, "web")[0]))
    engine.dispose()
    return seats


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
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pool", type=int, default=20, help="DB connections per worker")
    ap.add_argument("--vault-bytes", type=int, default=8192)
    args = ap.parse_args()

    name = f"zkv_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = psycopg.connect(args.pg, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    server = None
    try:
        seed_key = b64url_encode(secrets.token_bytes(32))
        seats = seed(url, seed_key, args.clients, args.vault_bytes)
        port = free_port()
        env = {
            **os.environ,
            "ZKVAULT_ENVIRONMENT": "production",
            "ZKVAULT_DATABASE_URL": url,
            "ZKVAULT_PUBLIC_URL": PUBLIC_URL,
            "ZKVAULT_SIGNING_KEYS": json.dumps([seed_key]),
            "ZKVAULT_OIDC_ISSUER": "https://idp.bench.invalid",
            "ZKVAULT_OIDC_CLIENT_SECRET": secrets.token_urlsafe(16),
            "ZKVAULT_PORT": str(port),
            "ZKVAULT_WORKERS": str(args.workers),
            "ZKVAULT_DB_POOL_SIZE": str(args.pool),
            "ZKVAULT_DB_MAX_OVERFLOW": "0",
            "ZKVAULT_LOG_LEVEL": "warning",
        }
        server = subprocess.Popen([str(ROOT / ".venv/bin/zkvault-server"), "serve"], env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        time.sleep(1.0)  # let every worker finish importing

        results = {}
        costs = {}
        load_before = os.getloadavg()[0]
        for op in ("write", "read"):  # write first: reads need a vault
            s0 = cpu_by_pid(server_pids(server.pid))
            p0, c0 = cpu_by_pid(postgres_pids()), time.process_time()
            coro = drive(port, seats, op, args.seconds, args.warmup, args.vault_bytes)
            n, lat, errs = run(coro)
            s1 = cpu_by_pid(server_pids(server.pid))
            p1, c1 = cpu_by_pid(postgres_pids()), time.process_time()
            results[op] = (n / args.seconds, pct(lat, 50), pct(lat, 99), errs)
            # Requests in the warm-up also cost CPU: count them at the measured rate.
            total = max(1, n + errs) * (args.seconds + args.warmup) / args.seconds
            spent = (cpu_spent(s0, s1), cpu_spent(p0, p1), c1 - c0)
            costs[op] = tuple(1000 * x / total for x in spent)
        load_after = os.getloadavg()[0]
        rss = rss_mib(server.pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    print(
        f"zkvault server on PostgreSQL: {args.clients} clients, {args.workers} uvicorn "
        f"workers, {args.pool} DB connections each, {args.vault_bytes}-byte vault, "
        f"{args.seconds:.0f} s per operation, {os.cpu_count()} cores shared with the client"
    )
    targets = {"read": (1500, 50.0), "write": (300, None)}
    for op, (rps, p50, p99, errs) in results.items():
        want_rps, want_p99 = targets[op]
        ok = rps >= want_rps and (want_p99 is None or p99 <= want_p99) and errs == 0
        goal = f">= {want_rps} req/s" + (f", p99 <= {want_p99:.0f} ms" if want_p99 else "")
        print(
            f"  vault {op:5}: {rps:7.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"errors {errs}  [{'meets' if ok else 'MISSES'} target {goal}]"
        )
    print(f"  server RSS (all processes): {rss:.0f} MiB")
    print(
        f"  load average (1 min) before/after: {load_before:.1f} / {load_after:.1f}"
        f" on {os.cpu_count()} cores"
    )
    for op, (srv, pg, cli) in costs.items():
        whole = srv + pg + cli
        print(
            f"  CPU per {op:5}: server {srv:.2f} ms, PostgreSQL {pg:.2f} ms, "
            f"load generator {cli:.2f} ms -> at most {os.cpu_count() * 1000 / whole:.0f} "
            f"req/s if these processes had the cores to themselves"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
