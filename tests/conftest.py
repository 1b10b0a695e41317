"""Suite-wide hooks: the security summary table at the end of every run."""

from __future__ import annotations

import pytest

from tests.support import report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, text in report.SECTIONS:
        terminalreporter.section(title, sep="-")
        terminalreporter.write_line(text)
    table = report.render()
    if table:
        terminalreporter.section("zkvault security summary")
        terminalreporter.write_line(table)
