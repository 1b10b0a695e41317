"""What `zkvault web verify` expects a server to serve: the web app built from this
zkvault's own source, never anything the server says.

The build is reproducible (tools/build_web.py, web/tools/snapshot.mjs), so the build of
this source is the build of the server's version. ``web/dist`` is used when its manifest
names this source's fingerprint; otherwise, or with ``fresh``, the app is built into a
temporary directory (node and node_modules needed, a few seconds).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from native.errors import FAILURE, CliError

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Expected:
    source: str  # the source fingerprint (tools/build_web.py)
    origin: str  # where the bytes came from: "web/dist" or "a fresh build"
    files: dict[str, str]  # URL path ("/", "/assets/app.HASH.js", "/manifest.json") -> sha256
    names: dict[str, str]  # URL path -> logical name ("app.js", "pyodide/pyodide.mjs")
    pyodide_files: tuple[str, ...]  # the file names inside the pyodide-HASH/ directory


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _need_source() -> None:
    if not (ROOT / "tools" / "build_web.py").is_file() or not (ROOT / "web").is_dir():
        raise CliError(
            f"this zkvault has no web app source to build from ({ROOT}); run it from a "
            "checkout of the server's version",
            FAILURE,
            "no_web_source",
        )
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))


def load(fresh: bool = False) -> Expected:
    _need_source()
    import build_web
    from build_wheel import build_wheel

    dist = ROOT / "web" / "dist"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(Path(tmp))
            source = build_web.fingerprint(wheel.read_bytes())
            if not fresh and _source_of(dist) == source:
                return read(dist, "web/dist")
            out = build_web.build(Path(tmp) / "dist", force=True)
            return read(out, "a fresh build of this source")
    except build_web.BuildError as exc:
        raise CliError(
            f"cannot build the web app to compare with: {exc}", FAILURE, "build_failed"
        ) from None


def _source_of(dist: Path) -> str | None:
    try:
        return str(json.loads((dist / "manifest.json").read_text())["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read(dist: Path, origin: str) -> Expected:
    manifest = (dist / "manifest.json").read_bytes()
    index = sha256((dist / "index.html").read_bytes())
    files = {"/": index, "/pair": index, "/manifest.json": sha256(manifest)}
    names = {"/": "index.html", "/pair": "index.html (/pair)", "/manifest.json": "manifest.json"}
    pyodide: tuple[str, ...] = ()
    for name, entry in sorted(json.loads(manifest)["assets"].items()):
        path = Path(dist, entry["path"])
        if path.is_dir():
            pyodide = tuple(sorted(p.name for p in path.iterdir() if p.suffix != ".gz"))
            for inner in pyodide:
                url = "/" + entry["path"] + inner
                files[url] = sha256((path / inner).read_bytes())
                names[url] = name + inner
        elif name != "index.html":
            url = "/" + entry["path"]
            files[url] = sha256(path.read_bytes())
            names[url] = name
    return Expected(json.loads(manifest)["source"], origin, files, names, pyodide)
