"""Fixtures for the hostile-server cases: one stage for the whole run (people are fresh
per module), and a leak scan of what the hostile side saw after every case."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import browser, built_assets, idp, playwright_instance  # noqa: F401
from tests.hostile.stage import Stage, open_stage
from tests.support import report
from tests.support.leaks import scan
from tests.support.processes import stop


@pytest.fixture(scope="session")
def stage(idp: str, built_assets: Path) -> Iterator[Stage]:  # noqa: F811 - fixture injection
    workdir = Path(tempfile.mkdtemp(prefix="zkv-hostile-"))
    built = open_stage(idp, workdir)
    try:
        yield built
    finally:
        built.proxy.close()
        stop(built.server.proc)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def nothing_secret_reaches_the_hostile_side(stage: Stage) -> Iterator[None]:
    """After each case: every byte the proxy received and sent since the last scan (so
    the module fixtures' pairing and enrolment too), and the server's log, searched for
    every secret the stage knows, in every encoding tests/support/leaks knows. The count
    is recorded whatever it is; then it must be 0."""
    yield
    wire_at, stage.wire_at = stage.wire_at, stage.proxy.mark()
    with stage.server.log.open("rb") as log:
        log.seek(stage.log_at)
        server_log = log.read()
    stage.log_at += len(server_log)
    artefacts = {
        "proxy traffic": stage.proxy.seen_since(wire_at)[: stage.wire_at - wire_at],
        "server log": server_log,
    }
    hits = scan(artefacts, stage.secrets)
    report.record("hostile server", "secrets seen by the hostile side", scans=1, hits=len(hits))
    assert not hits, [f"{h.secret} in {h.artefact} ({h.form})" for h in hits]
