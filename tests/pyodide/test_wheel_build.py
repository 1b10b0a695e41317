"""tools/build_wheel.py: the wheel served to Pyodide is complete, valid and reproducible."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from tests.pyodide.pyodide_harness import ROOT

PACKAGES = ("vault_core", "vault_web")


def _source_files() -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for p in (ROOT / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_contents_and_record(vault_wheel: Path) -> None:
    assert vault_wheel.name == "vault_core-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(vault_wheel) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        dist = "vault_core-0.1.0.dist-info"
        assert names == [*_source_files(), f"{dist}/METADATA", f"{dist}/WHEEL", f"{dist}/RECORD"]
        assert "vault_core/backend/pyodide.py" in names
        assert "vault_web/worker_vault.py" in names
        # Reproducible randomness is passed in by the vector generator; no switch ships.
        assert not any(n.endswith(("/testing.py", "/_rng.py")) for n in names)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        for name in _source_files():
            assert zf.read(name) == (ROOT / name).read_bytes(), name
        assert "Tag: py3-none-any" in zf.read(f"{dist}/WHEEL").decode()
        assert "Requires-Dist" not in zf.read(f"{dist}/METADATA").decode()
        rows = [line.split(",") for line in zf.read(f"{dist}/RECORD").decode().splitlines()]
        assert [r[0] for r in rows] == names
        assert rows[-1] == [f"{dist}/RECORD", "", ""]
        for name, digest, size in rows[:-1]:
            data = zf.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode(), name
            assert int(size) == len(data), name


def test_reproducible_across_dirs_and_mtimes(
    build_wheel_module: ModuleType, vault_wheel: Path, tmp_path: Path
) -> None:
    # A copy of the source with different mtimes and location must give the same bytes.
    src = tmp_path / "src"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", src / "pyproject.toml")
    for path in src.rglob("*"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    again = build_wheel_module.build_wheel(tmp_path / "out", root=src)
    assert again.read_bytes() == vault_wheel.read_bytes()


def test_cli_and_pip_install(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_wheel.py"), str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    wheel = Path(out)
    assert wheel.parent == tmp_path and wheel.is_file()
    # pip is an independent reader of the wheel format (RECORD, WHEEL, METADATA).
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import vault_core.backend.base as b; print(b.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    ).stdout
    assert probe.startswith(str(target))
