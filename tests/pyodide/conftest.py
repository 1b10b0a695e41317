"""Session fixtures: one wheel built from the current source, one Pyodide process for all tests.

Nothing here skips: a missing node or node_modules fails the run with the harness's reason.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.pyodide.pyodide_harness import ROOT, PyodideSession

HERE = Path(__file__).parent


def load_module(path: Path, name: str) -> ModuleType:
    """Import a file by path under a unique name (tests/ has no packages to import from)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_wheel_module() -> ModuleType:
    return load_module(ROOT / "tools" / "build_wheel.py", "zkvault_tools_build_wheel")


@pytest.fixture(scope="session")
def vault_wheel(build_wheel_module: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel: Path = build_wheel_module.build_wheel(tmp_path_factory.mktemp("wheel"))
    return wheel


@pytest.fixture(scope="session")
def pyodide(vault_wheel: Path) -> Iterator[PyodideSession]:
    with PyodideSession(vault_wheel) as session:
        session.put_support_file(HERE / "backend_checks.py")
        yield session
