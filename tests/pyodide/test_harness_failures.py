"""The harness fails loudly, never skips: missing node_modules or wheel is an error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pyodide.pyodide_harness import RUNNER, HarnessUnavailable, PyodideSession


def _runner_without_node_modules(tmp_path: Path) -> Path:
    # The runner finds node_modules relative to itself: a copy two levels below an empty
    # directory sees none.
    copy = tmp_path / "tests" / "pyodide"
    copy.mkdir(parents=True)
    for name in ("run_in_pyodide.mjs", "bind_crypto.mjs", "harness_boot.py"):
        shutil.copy(RUNNER.with_name(name), copy / name)
    return copy / RUNNER.name


def test_missing_node_modules_is_an_error(vault_wheel: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessUnavailable, match=r"node_modules/pyodide is missing"):
        PyodideSession(vault_wheel, runner=_runner_without_node_modules(tmp_path))


def test_missing_wheel_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessUnavailable, match=r"--wheel FILE is required"):
        PyodideSession(tmp_path / "no-such.whl")
