"""Build the pure-Python wheel that the web app serves to Pyodide: vault_core and the
worker's own package, vault_web.

    python tools/build_wheel.py OUT_DIR        # prints the wheel's path

Reproducible: the same source gives the same bytes (sorted entries, fixed
timestamps and permissions, no build-machine paths). The timestamp is
SOURCE_DATE_EPOCH when set, else 1980-01-01, the earliest a zip can hold.

The wheel declares no dependencies on purpose: inside Pyodide, vault_core uses
libsodium.js bound by the host, and PyNaCl (the native backend's library) is
neither needed nor installable there. Native installs use the `zkvault`
distribution from pyproject.toml, which does require PyNaCl.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# vault_core, and the web worker's own Python, which runs only beside it.
PACKAGES = ("vault_core", "vault_web")
DIST_NAME = "vault_core"
TAG = "py3-none-any"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _version(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as f:
        version = tomllib.load(f)["project"]["version"]
    if not isinstance(version, str):
        raise SystemExit("pyproject.toml: project.version must be a string")
    return version


def _timestamp() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return _ZIP_EPOCH
    t = time.gmtime(max(int(epoch), 315532800))  # zip cannot store dates before 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _package_files(root: Path) -> list[tuple[str, bytes]]:
    files = []
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            rel = path.relative_to(root)
            if path.is_dir() or "__pycache__" in rel.parts or path.suffix in {".pyc", ".pyo"}:
                continue
            files.append((rel.as_posix(), path.read_bytes()))
        if not any(name == f"{package}/__init__.py" for name, _ in files):
            raise SystemExit(f"{root / package} is not a package")
    return sorted(files)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _metadata(version: str) -> bytes:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {DIST_NAME}\n"
        f"Version: {version}\n"
        "Summary: zkvault's vault format and crypto, for Pyodide (libsodium.js backend)\n"
        "License: Apache-2.0\n"
        "Requires-Python: >=3.11\n"
    ).encode()


def _wheel_file() -> bytes:
    return (
        "Wheel-Version: 1.0\n"
        "Generator: zkvault tools/build_wheel.py\n"
        "Root-Is-Purelib: true\n"
        f"Tag: {TAG}\n"
    ).encode()


def build_wheel(out_dir: Path, root: Path = ROOT) -> Path:
    """Write the wheel into out_dir (created if needed) and return its path."""
    version = _version(root)
    dist_info = f"{DIST_NAME}-{version}.dist-info"
    entries = _package_files(root)
    entries += [
        (f"{dist_info}/METADATA", _metadata(version)),
        (f"{dist_info}/WHEEL", _wheel_file()),
    ]
    record_name = f"{dist_info}/RECORD"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    entries.append((record_name, (record + f"{record_name},,\n").encode()))

    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{DIST_NAME}-{version}-{TAG}.whl"
    stamp = _timestamp()
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in entries:  # package files sorted; dist-info last, RECORD at the end
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3  # Unix, so the permission bits below are honoured
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    tmp.replace(wheel)
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, help="directory to write the wheel into")
    args = parser.parse_args(argv)
    print(build_wheel(args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
