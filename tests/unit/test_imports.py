"""vault_core imports the standard library, itself, and its one backend per runtime."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "vault_core"
BACKEND_IMPORTS = {"native.py": {"nacl"}, "pyodide.py": {"js", "pyodide"}}


def test_vault_core_imports_only_the_standard_library_and_its_backend() -> None:
    for path in ROOT.rglob("*.py"):
        allowed = set(sys.stdlib_module_names) | BACKEND_IMPORTS.get(path.name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top == "vault_core", f"{path.name} imports {name}"
