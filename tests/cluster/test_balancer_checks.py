"""The reference balancer configuration (tests/support/haproxy.py, as docs/operations.md
shows it): its health check is readiness, and /metrics never passes through it."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx

from server.encoding import b64url_encode
from tests.support import haproxy
from tests.support.processes import start_idp, start_server, stop


def test_the_balancer_checks_readiness_and_keeps_metrics_private(tmp_path: Path) -> None:
    token = b64url_encode(os.urandom(18))
    idp, idp_proc = start_idp()
    srv = start_server(idp, tmp_path, ZKVAULT_METRICS_TOKEN=token)
    port = int(srv.url.rsplit(":", 1)[1])
    balancer = haproxy.start(tmp_path, {"app1": port})
    try:
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{srv.url}/metrics", headers=auth).status_code == 200  # the scraper
        for path in ["/metrics", "/%6Detrics", "/metrics/"]:
            r = httpx.get(f"{balancer.url}{path}", headers=auth)
            assert r.status_code == 404 and "zkvault_" not in r.text, path
        deadline = time.monotonic() + 10
        checks = re.compile(r"zkvault\.access \S+ GET /readyz 200 ")
        while not any(checks.search(line) for line in srv.log.read_text().splitlines()):
            assert time.monotonic() < deadline, "the balancer never asked /readyz"
            time.sleep(0.1)
    finally:
        balancer.stop()
        stop(srv.proc)
        stop(idp_proc)
