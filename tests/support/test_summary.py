"""The security summary's verdict can fail: a copy of the code with one check broken
turns it to FAIL, and the same run over the unbroken copy says PASS; a security test
that is skipped turns it to FAIL too, one that is deselected does not."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT

# A small, relevant subset: the vault vectors that flip one header or manifest field.
SUBSET = ["tests/unit/test_vectors.py", "-k", "meets_the_vector and flip"]
MAC_CHECK = "        if not hmac.compare_digest(expected_mac, container.header_mac):\n"


# The inner runs load the project's hooks (tests/conftest.py) and pytest-timeout (its
# `timeout` setting), not every installed plugin: schemathesis's alone took ~10 s of each
# inner run's start on a loaded machine, and none of them takes part in the verdict.
PLUGINS = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
ONLY = ("-p", "pytest_timeout")


def _copy(to: Path) -> Path:
    for name in ("vault_core", "tests"):
        shutil.copytree(
            ROOT / name, to / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def _verdict(tree: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *ONLY, "-p", "no:cacheprovider", "-q", *SUBSET],
        cwd=tree,
        env={**env, **PLUGINS, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    found = re.findall(r"^(PASS|FAIL): .*$", done.stdout, re.M)
    assert len(found) == 1, done.stdout[-3000:] + done.stderr[-2000:]
    line = next(m for m in done.stdout.splitlines() if m.startswith(("PASS: ", "FAIL: ")))
    return line


def test_breaking_the_header_mac_check_turns_the_verdict_to_fail(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    assert _verdict(tree).startswith("PASS: "), "the unbroken copy must pass"

    vault_py = tree / "vault_core" / "vault.py"
    source = vault_py.read_text()
    assert source.count(MAC_CHECK) == 1, "the header MAC check moved; update this test"
    vault_py.write_text(source.replace(MAC_CHECK, "        if False:  # broken on purpose\n"))
    broken = _verdict(tree)
    assert broken.startswith("FAIL: "), broken
    # What the summary counted, not only the word: the forged headers went undetected.
    undetected = int(re.search(r"tampering undetected (\d+)", broken).group(1))  # type: ignore[union-attr]
    assert undetected >= 1, broken


# A tiny suite run through the real hooks (tests/conftest.py): one security case that
# records what it observed, and one that pytest skips before it could observe anything.
SKIPPING_SUITE = """
import pytest

from tests.support.report import record


def test_records_a_refusal() -> None:
    record("api attacks", "a case", tried=1, refused=1)


@pytest.mark.security
def test_is_skipped() -> None:
    pytest.skip("no server today")
"""

# The control: the same, with the skipped case recording what it observed instead. (Kept
# out of the test functions: tests/conftest.py takes a function that calls record for a
# security test of this suite.)
RECORDING_SUITE = SKIPPING_SUITE.replace(
    'pytest.skip("no server today")', 'record("api attacks", "b", tried=1, refused=1)'
)


def _verdict_of(suite: str, tmp_path: Path, *select: str) -> tuple[str, str]:
    """Run ``suite`` with the suite's hooks and report: (the verdict line, all output)."""
    (tmp_path / "tests" / "support").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    shutil.copy(ROOT / "tests" / "support" / "report.py", tmp_path / "tests" / "support")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests" / "test_cases.py").write_text(suite)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *ONLY, "-p", "no:cacheprovider", "-q", "tests", *select],
        cwd=tmp_path,
        env={**env, **PLUGINS, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = [m for m in done.stdout.splitlines() if m.startswith(("PASS: ", "FAIL: "))]
    assert len(found) == 1, done.stdout[-3000:] + done.stderr[-2000:]
    return found[0], done.stdout


def test_a_skipped_security_test_counts_as_failed(tmp_path: Path) -> None:
    line, out = _verdict_of(SKIPPING_SUITE, tmp_path)
    assert line.startswith("FAIL: "), line
    assert "security tests failed 1" in line and "attacks not refused 0" in line, line
    assert "tests/test_cases.py::test_is_skipped (skipped)" in out


def test_the_same_suite_without_the_skip_passes(tmp_path: Path) -> None:
    """The control: the verdict above is the skip's doing, not the suite's shape."""
    line, _ = _verdict_of(RECORDING_SUITE, tmp_path)
    assert line.startswith("PASS: ") and "security tests failed 0" in line, line


def test_a_deselected_security_test_is_not_counted(tmp_path: Path) -> None:
    """Running part of the suite (-k) is no skip: pytest never reports a deselected test."""
    line, _ = _verdict_of(SKIPPING_SUITE, tmp_path, "-k", "refusal")
    assert line.startswith("PASS: "), line
