"""Assemble the web app's deployable assets: web/ + pinned npm files + the vault_core wheel.

    python tools/build_web.py [--out web/dist] [--force]

Output (served by server/routers/webapp.py):
    OUT/index.html              the page (no-cache); script/style tags carry SRI
    OUT/manifest.json           logical name -> hashed path, SRI, size; a source fingerprint
    OUT/assets/NAME.HASH.EXT    every asset under a content-hashed name (immutable)
    OUT/assets/pyodide-HASH/    the five Pyodide files it needs, one hashed directory
                                (Pyodide finds its siblings by name under indexURL)
    OUT/assets/*.gz             gzip copies of the large assets, served when accepted

References between assets are written in the sources as "./NAME" (and "sri:./NAME" where
the code wants the SRI string); the build substitutes the hashed names, leaves first, so
a change anywhere changes the name of everything that refers to it. Skips the work when
the inputs have not changed since the last build (the fingerprint in the manifest).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))  # also when imported from elsewhere

from build_wheel import build_wheel  # noqa: E402

WEB = ROOT / "web"
NODE = ROOT / "node_modules"
DEFAULT_OUT = WEB / "dist"
PAGES = ("index.html",)
SNAPSHOT_SCRIPT = WEB / "tools" / "snapshot.mjs"
SOURCE_SUFFIXES = {".js", ".mjs", ".css", ".html", ".svg"}
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
TEXT_SUFFIXES = {".js", ".mjs", ".css", ".html", ".py", ".json", ".svg"}
GZIP_MIN_BYTES = 8192
_REF = re.compile(r"""(["'])(sri:)?\./([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]*)?)\1""")


class BuildError(Exception):
    """A missing input or a dangling reference, with the fix in the message."""


@dataclass
class Asset:
    name: str  # logical name, e.g. "app.js" or "pyodide/"
    data: bytes = b""
    files: dict[str, bytes] = field(default_factory=dict)  # only for a directory group
    path: str = ""  # hashed path under OUT
    integrity: str = ""

    @property
    def is_text(self) -> bool:
        return not self.files and Path(self.name).suffix in TEXT_SUFFIXES


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _need(path: Path) -> bytes:
    if not path.is_file():
        raise BuildError(f"{path.relative_to(ROOT)} is missing: run scripts/bootstrap.sh (npm ci)")
    return path.read_bytes()


def _trimmed_lockfile() -> bytes:
    # vault_core needs no Pyodide package: ship the lock file's header only (120 KB less).
    lock = json.loads(_need(NODE / "pyodide" / "pyodide-lock.json"))
    return json.dumps({"info": lock["info"], "packages": {}}, sort_keys=True).encode()


def collect(wheel: Path) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for path in sorted(WEB.iterdir()):
        if path.is_file() and path.suffix in SOURCE_SUFFIXES:
            assets[path.name] = Asset(path.name, path.read_bytes())
    esm = "modules-sumo-esm"
    sodium = NODE / "libsodium-wrappers-sumo" / "dist" / esm / "libsodium-wrappers.mjs"
    core = NODE / "libsodium-sumo" / "dist" / esm / "libsodium-sumo.mjs"
    # The wrappers import the core by its bare npm name; a worker has no import map.
    wrappers = _need(sodium).replace(b'from"libsodium-sumo"', b'from"./sodium-core.mjs"')
    if b"./sodium-core.mjs" not in wrappers:
        raise BuildError("libsodium-wrappers.mjs no longer imports libsodium-sumo as expected")
    assets["sodium.mjs"] = Asset("sodium.mjs", wrappers)
    assets["sodium-core.mjs"] = Asset("sodium-core.mjs", _need(core))
    argon2 = NODE / "@phi-ag" / "argon2" / "dist" / "argon2.wasm"
    assets["argon2.wasm"] = Asset("argon2.wasm", _need(argon2))
    assets["vault_core.whl"] = Asset("vault_core.whl", wheel.read_bytes())
    files = {n: _need(NODE / "pyodide" / n) for n in PYODIDE_FILES}
    files["pyodide-lock.json"] = _trimmed_lockfile()
    assets["pyodide/"] = Asset("pyodide/", files=files)
    assets["snapshot.bin"] = Asset("snapshot.bin", pack_snapshot(make_snapshot(wheel)))
    return assets


SNAPSHOT_PAGE = 65536
SNAPSHOT_MAGIC = b"ZKSP"


def pack_snapshot(raw: bytes) -> bytes:
    """The snapshot without its all-zero 64 KiB pages (about half of it): the worker reads
    fewer bytes, from the network or Cache Storage, before Pyodide can start. Layout in
    docs/web.md, "The Pyodide memory snapshot"."""
    pages = -(-len(raw) // SNAPSHOT_PAGE)
    stored = bytearray((pages + 7) // 8)
    kept = []
    for p in range(pages):
        page = raw[p * SNAPSHOT_PAGE : (p + 1) * SNAPSHOT_PAGE]
        if page.count(0) != len(page):
            stored[p // 8] |= 1 << (p % 8)
            kept.append(page)
    return SNAPSHOT_MAGIC + len(raw).to_bytes(4, "little") + bytes(stored) + b"".join(kept)


def make_snapshot(wheel: Path) -> bytes:
    """Pyodide's memory after importing vault_core and vault_web, made under Node (~4 s)."""
    node = shutil.which("node")
    if node is None:
        raise BuildError("node is required to make the Pyodide memory snapshot")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "snapshot.bin"
        done = subprocess.run(
            [node, str(SNAPSHOT_SCRIPT), str(wheel), str(out)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if done.returncode != 0 or not out.is_file():
            raise BuildError(f"making the Pyodide snapshot failed: {done.stderr.strip()[-500:]}")
        return out.read_bytes()


def _refs(asset: Asset, names: set[str]) -> set[str]:
    if not asset.is_text:
        return set()
    found = set()
    for m in _REF.finditer(asset.data.decode("utf-8")):
        target = m.group(3)
        group = target.split("/", 1)[0] + "/" if "/" in target else target
        if group in names:
            found.add(group)
    return found


def _rewrite(asset: Asset, assets: dict[str, Asset]) -> None:
    if not asset.is_text:
        return

    def sub(m: re.Match[str]) -> str:
        quote, sri, target = m.group(1), m.group(2), m.group(3)
        if "/" in target:
            group, rest = target.split("/", 1)
            dep = assets.get(group + "/")
            if dep is None:
                return m.group(0)
            return f"{quote}./{dep.path.removeprefix('assets/')}{rest}{quote}"
        dep = assets.get(target)
        if dep is None:
            return m.group(0)
        if sri:
            return f"{quote}{dep.integrity}{quote}"
        return f"{quote}./{dep.path.removeprefix('assets/')}{quote}"

    asset.data = _REF.sub(sub, asset.data.decode("utf-8")).encode("utf-8")


def resolve(assets: dict[str, Asset]) -> list[Asset]:
    """Hash leaves first, rewriting each asset's references to its dependencies' hashed names."""
    names = set(assets)
    deps = {n: _refs(a, names) - {n} for n, a in assets.items()}
    done: list[Asset] = []
    pending = dict(deps)
    while pending:
        ready = sorted(n for n, d in pending.items() if not d - {a.name for a in done})
        if not ready:
            raise BuildError(f"reference cycle among {sorted(pending)}")
        for n in ready:
            asset = assets[n]
            _rewrite(asset, assets)
            if asset.files:
                digest = hashlib.sha256()
                for fname in sorted(asset.files):
                    inner = hashlib.sha256(asset.files[fname]).digest()
                    digest.update(fname.encode() + b"\0" + inner)
                asset.path = f"assets/pyodide-{digest.hexdigest()[:12]}/"
            elif n in PAGES:
                asset.path = n
            else:
                stem, dot, ext = n.partition(".")
                asset.path = f"assets/{stem}.{_short_hash(asset.data)}.{ext}" if dot else n
            asset.integrity = _sri(asset.data) if not asset.files else ""
            done.append(asset)
            del pending[n]
    return done


def add_page_sri(page: Asset, assets: dict[str, Asset]) -> None:
    """<script src> and <link href> to our assets get integrity= (CSP allows no inline code)."""
    by_path = {"./" + a.path.removeprefix("assets/"): a for a in assets.values() if not a.files}
    html = page.data.decode("utf-8")

    def tag(m: re.Match[str]) -> str:
        text = m.group(0)
        url = re.search(r'(?:src|href)="([^"]+)"', text)
        dep = by_path.get(url.group(1)) if url else None
        if dep is None or "integrity=" in text:
            return text
        return text[:-1] + f' integrity="{dep.integrity}">'

    html = re.sub(r"<(?:script|link)\b[^>]*>", tag, html)
    # Pages live at / and /pair, assets under /assets/.
    page.data = html.replace('="./', '="/assets/').encode("utf-8")


def fingerprint(wheel_bytes: bytes) -> str:
    digest = hashlib.sha256(wheel_bytes)
    for path in sorted(WEB.iterdir()):
        if path.is_file() and path.suffix in SOURCE_SUFFIXES:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for rel in ("package-lock.json", "tools/build_web.py", "web/tools/snapshot.mjs"):
        p = ROOT / rel
        digest.update(rel.encode() + (p.read_bytes() if p.is_file() else b""))
    return digest.hexdigest()


def write(out: Path, ordered: list[Asset], source: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    tmp.chmod(0o755)
    manifest: dict[str, object] = {"version": 1, "source": source, "assets": {}}
    entries: dict[str, object] = {}
    for asset in ordered:
        target = tmp / asset.path
        blobs = {target / n: d for n, d in asset.files.items()} or {target: asset.data}
        for file, data in blobs.items():
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data)
            if len(data) >= GZIP_MIN_BYTES and file.suffix != ".html":
                packed = gzip.compress(data, 6, mtime=0)
                if len(packed) < 0.9 * len(data):  # zips and wheels are compressed already
                    file.with_name(file.name + ".gz").write_bytes(packed)
        entries[asset.name] = {
            "path": asset.path,
            "integrity": asset.integrity,
            "bytes": sum(len(d) for d in blobs.values()),
        }
    manifest["assets"] = entries
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def build(out: Path = DEFAULT_OUT, *, force: bool = False) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as wheel_dir:
        wheel = build_wheel(Path(wheel_dir))
        source = fingerprint(wheel.read_bytes())
        manifest = out / "manifest.json"
        if (
            not force
            and manifest.is_file()
            and json.loads(manifest.read_text()).get("source") == source
        ):
            return out
        assets = collect(wheel)
        ordered = resolve(assets)
    for page in PAGES:
        add_page_sri(assets[page], assets)
    write(out, ordered, source)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    args = parser.parse_args(argv)
    try:
        print(build(args.out.resolve(), force=args.force))
    except BuildError as exc:
        print(f"build_web: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
