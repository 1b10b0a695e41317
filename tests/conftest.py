"""Suite-wide hooks: the security summary table at the end of every run.

The summary counts what happened (tests/support/report.py): these hooks tell it which
test is running (so each record belongs to one), which tests are security tests (their
function calls ``record``, or they carry the ``security`` mark) and which failed or were
skipped (a skipped security test counts as failed in the verdict).
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

from tests.support import report as summary

_RECORDS = re.compile(r"\brecord\(")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "security: a security case that must record what it observed"
    )


def _records(item: pytest.Item) -> bool:
    if item.get_closest_marker("security"):
        return True
    function = getattr(item, "function", None)
    try:
        return function is not None and bool(_RECORDS.search(inspect.getsource(function)))
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    summary.SECURITY_TESTS.update(item.nodeid for item in items if _records(item))


def pytest_runtest_logstart(nodeid: str) -> None:
    summary.begin(nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        summary.failed(report.nodeid)
    elif report.skipped:  # in setup (a skip mark, a fixture's skip) or in the call
        summary.skipped(report.nodeid)
    elif report.when == "call" and report.passed:
        summary.passed(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    saved_to = os.environ.get("ZKVAULT_REPORT_OUT")
    if saved_to:  # one group of a suite run in groups: scripts/test.sh prints the whole
        summary.save(Path(saved_to))
        terminalreporter.write_line(f"security observations saved to {saved_to}")
        return
    for title, text in summary.SECTIONS:
        terminalreporter.section(title, sep="-")
        terminalreporter.write_line(text)
    table = summary.render()
    if table:
        terminalreporter.section("zkvault security summary")
        terminalreporter.write_line(table)
