"""Fixtures for the hostile-server cases: one stage per module, and a leak scan of what
the hostile side saw after every case."""

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


@pytest.fixture(scope="module")
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
def nothing_secret_reaches_the_hostile_side(
    request: pytest.FixtureRequest, stage: Stage
) -> Iterator[None]:
    """After each case: every byte the proxy received and sent during it, and the server's
    log, searched for every secret the stage knows (all encodings tests/support/leaks
    knows). The count is recorded whatever it is; then it must be 0."""
    wire, log_at = stage.proxy.mark(), stage.server.log.stat().st_size
    yield
    with stage.server.log.open("rb") as log:
        log.seek(log_at)
        server_log = log.read()
    artefacts = {"proxy traffic": stage.proxy.seen_since(wire), "server log": server_log}
    hits = scan(artefacts, stage.secrets)
    report.record(
        "hostile server",
        "secrets seen by the hostile side",
        searched=len(stage.secrets),
        hits=len(hits),
    )
    assert not hits, [f"{h.secret} in {h.artefact} ({h.form})" for h in hits]
