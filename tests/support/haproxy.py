"""A real HAProxy (Debian's binary) in front of zkvault-server instances.

The configuration is the one docs/operations.md recommends for production, minus TLS:
round robin without stickiness, readiness checks, /metrics kept off the listener, a
client-supplied X-Forwarded-For replaced by the connecting address, and a log format
with the path only (HAProxy's default `httplog` prints the query string, which on
/auth/callback is the sign-in code).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, stop, wait_http

# Path only (%HP has no query string); %b/%s names the instance that answered.
LOG_FORMAT = "%ci [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %HM %HP"


def config(
    port: int, backends: dict[str, int], *, log: bool = True, check_interval: str = "300ms"
) -> str:
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{backend} check" for name, backend in backends.items()
    )
    logging = "    log stdout format raw local0 info\n" if log else ""
    return f"""global
{logging}    maxconn 4096

defaults
    mode http
    log global
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    # A refused connection (an instance just died) is retried on the other instance, and
    # so is a request whose reused server connection closed without an answer (the
    # instance closed it as idle just then, or died); never a POST (refresh, pairing),
    # which may have been processed. Every PUT is conditional (base revision): at most
    # it gets a 409 on the second try.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend zkvault
    bind 127.0.0.1:{port}
    log-format "{LOG_FORMAT}"
    # Clients must not choose the address rate limits and the audit trail see.
    http-request del-header X-Forwarded-For
    option forwardfor
    http-request disable-l7-retry if METH_POST
    # /metrics is for the scraper, which asks the instances directly: never served here
    # (url_dec: the server decodes %6D as m, so the check must too).
    http-request deny deny_status 404 if {{ path,url_dec -m beg /metrics }}
    default_backend instances

backend instances
    balance roundrobin
    # Readiness: an instance that cannot reach PostgreSQL (or lacks a migration) is
    # taken out of rotation. (/healthz, liveness, is for the process supervisor.)
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {check_interval} fall 2 rise 2
{servers}
"""


def binary() -> str:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).exists():
        raise RuntimeError("HAProxy is not installed: run scripts/bootstrap.sh")
    return found


@dataclass
class Balancer:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def stop(self) -> None:
        stop(self.proc)


def start(
    workdir: Path,
    backends: dict[str, int],
    *,
    port: int | None = None,
    log: bool = True,
    check_interval: str = "300ms",
) -> Balancer:
    """``check_interval``: short in tests (a killed instance leaves quickly), longer
    under benchmark load (a slow answer must not take a live instance out)."""
    port = port or free_port()
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(config(port, backends, log=log, check_interval=check_interval))
    out = workdir / "haproxy.log"
    check = subprocess.run([binary(), "-c", "-f", str(cfg)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"HAProxy refused its configuration: {check.stdout}{check.stderr}")
    with out.open("ab") as sink:
        # -db: stay in the foreground, log to stdout (our file).
        proc = subprocess.Popen(
            [binary(), "-db", "-f", str(cfg)], stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", proc, timeout=20)
    return Balancer(url, proc, out)
