"""Prometheus metrics, in the text exposition format, with no dependency.

Labels are bounded and never carry a secret or an account: HTTP routes appear as
their templates (`/api/machines/{client_id}`, never the id), rate limits by the
kind of limit (`signin`, never the address or account in the key), errors by code.
Values are per process (docs/operations.md).
"""

from __future__ import annotations

import threading
from collections import defaultdict

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from .middleware import Scope

_UNLABELLED = {"zkvault_refresh_reuse_total", "zkvault_refresh_retries_total"}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_lock = threading.Lock()
_counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
_histograms: dict[tuple[tuple[str, str], ...], list[float]] = {}
_HELP = {
    "zkvault_http_requests_total": "HTTP requests by method, route template and status",
    "zkvault_http_request_duration_seconds": "HTTP request latency by method and route",
    "zkvault_errors_total": "Error responses by error code",
    "zkvault_rate_limited_total": "Requests refused by a rate limit, by limit",
    "zkvault_refresh_reuse_total": "Refresh tokens presented again: family revoked",
    "zkvault_refresh_retries_total": "Refreshes retried by the same key (a lost answer)",
    "zkvault_db_pool_connections": "Database pool connections by state",
    "zkvault_head_waiters": "Long polls (GET /api/vault/head) waiting in this process",
}


def inc(name: str, amount: float = 1.0, **labels: str) -> None:
    with _lock:
        _counters[(name, tuple(sorted(labels.items())))] += amount


def observe(seconds: float, **labels: str) -> None:
    key = tuple(sorted(labels.items()))
    with _lock:
        h = _histograms.setdefault(key, [0.0] * (len(BUCKETS) + 2))  # buckets, count, sum
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                h[i] += 1
        h[-2] += 1
        h[-1] += seconds


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def record_request(scope: Scope, status: int, seconds: float) -> None:
    """An observer for server.middleware.Observed: every request by its route template,
    and the latency histogram."""
    route, method = route_of(scope), str(scope["method"])
    inc("zkvault_http_requests_total", method=method, route=route, status=str(status))
    observe(seconds, method=method, route=route)


def _labels(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + ",".join(escaped) + "}"


def _pool_gauges(engine: Engine) -> list[tuple[tuple[tuple[str, str], ...], float]]:
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return []
    return [
        ((("state", "checked_out"),), float(pool.checkedout())),
        ((("state", "idle"),), float(pool.checkedin())),
        ((("state", "overflow"),), float(max(pool.overflow(), 0))),
        ((("state", "size"),), float(pool.size())),
    ]


def render(engine: Engine, waiters: int = 0) -> str:
    lines: list[str] = []

    def family(name: str, kind: str, rows: list[str]) -> None:
        lines.extend([f"# HELP {name} {_HELP[name]}", f"# TYPE {name} {kind}", *rows])

    with _lock:
        counters = dict(_counters)
        histograms = {k: list(v) for k, v in _histograms.items()}
    by_name: dict[str, list[str]] = defaultdict(list)
    for (name, labels), value in sorted(counters.items()):
        by_name[name].append(f"{name}{_labels(labels)} {value:g}")
    for name in sorted(n for n in _HELP if n.endswith("_total")):
        zero = [f"{name} 0"] if name in _UNLABELLED else []
        family(name, "counter", by_name.get(name) or zero)
    hist = "zkvault_http_request_duration_seconds"
    rows = []
    for labels, h in sorted(histograms.items()):
        for bound, count in zip(BUCKETS, h, strict=False):
            rows.append(f"{hist}_bucket{_labels([*labels, ('le', f'{bound:g}')])} {count:g}")
        rows.append(f"{hist}_bucket{_labels([*labels, ('le', '+Inf')])} {h[-2]:g}")
        rows.append(f"{hist}_count{_labels(labels)} {h[-2]:g}")
        rows.append(f"{hist}_sum{_labels(labels)} {h[-1]:.6f}")
    family(hist, "histogram", rows)
    pool = "zkvault_db_pool_connections"
    family(pool, "gauge", [f"{pool}{_labels(lb)} {v:g}" for lb, v in _pool_gauges(engine)])
    family("zkvault_head_waiters", "gauge", [f"zkvault_head_waiters {waiters}"])
    return "\n".join(lines) + "\n"


# Hooks the rest of the server calls; names say what happened, labels stay bounded.
def rate_limited(key: str) -> None:
    inc("zkvault_rate_limited_total", limit=key.split(":", 1)[0])


def refresh_reused() -> None:
    inc("zkvault_refresh_reuse_total")


def refresh_retry() -> None:
    inc("zkvault_refresh_retries_total")


def error(code: str) -> None:
    inc("zkvault_errors_total", code=code)
