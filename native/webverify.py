"""``zkvault web verify URL``: is the web app this server sends browsers the one built
from this zkvault's source? (docs/cli.md; what it cannot show: docs/threat-model.md.)

Starting from the page (``/`` and ``/pair``) and the server's ``/manifest.json``, every
script, style, icon, worker, wasm, wheel, Pyodide file and the snapshot they reference is
fetched as a browser would (gzip accepted, no redirects followed) and compared byte for
byte, with its security headers, against native.webexpect's build of this source.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from native import webexpect, webfetch
from native.api import server_url
from native.errors import NOT_COMPARABLE, TAMPERED, USAGE, CliError
from server import webheaders

PAGES = ("/", "/pair")
NOT_CHECKED = (
    "what this server sends to other people, at other times or on other requests: "
    "a server can single one person out and change the code after this check",
    "the uncompressed copy of assets the server also offers gzipped (fetched as a "
    "browser does, gzip accepted)",
    "files inside the Pyodide directory that nothing references by name",
)
_HASHED = re.compile(
    r"""["'`]\./([A-Za-z0-9_-]+\.[0-9a-f]{12}\.[A-Za-z0-9]+|pyodide-[0-9a-f]{12}/[A-Za-z0-9_.-]*)"""
)
_LOADING = {"script": "src", "link": "href", "img": "src", "iframe": "src", "frame": "src",
            "embed": "src", "object": "data", "source": "src", "audio": "src", "video": "src",
            "track": "src", "base": "href", "input": "src"}  # fmt: skip


@dataclass(frozen=True)
class Row:
    asset: str
    path: str
    status: str  # ok, changed, missing, unexpected
    detail: str = ""


class _Refs(HTMLParser):
    """The URLs a page makes the browser load, and inline scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.inline = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self._in_script = True
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.urls.append("meta-refresh:" + (values.get("content") or ""))
        wanted = _LOADING.get(tag)
        if wanted and values.get(wanted):
            self.urls.append(str(values[wanted]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline += 1


def logical(path: str) -> str:
    """The build's name for a served path: /assets/app.HASH.js -> app.js."""
    if path == "/":
        return "index.html"
    if path == "/pair":
        return "index.html (/pair)"
    found = re.fullmatch(r"/assets/pyodide-[0-9a-f]{12}/(.+)", path)
    if found:
        return "pyodide/" + found.group(1)
    found = re.fullmatch(r"/assets/([A-Za-z0-9_-]+)\.[0-9a-f]{12}\.([A-Za-z0-9]+)", path)
    return f"{found.group(1)}.{found.group(2)}" if found else path.lstrip("/")


class Crawl:
    def __init__(self, base: str, expected: webexpect.Expected) -> None:
        self.base = base
        self.expected = expected
        self.served: dict[str, webfetch.Got] = {}
        self.foreign: list[str] = []  # references to other origins, and other oddities

    def run(self, manifest: webfetch.Got) -> None:
        self.served["/manifest.json"] = manifest
        queue = [*PAGES, *self._from_manifest(manifest.body)]
        while queue:
            path = queue.pop(0)
            if path in self.served:
                continue
            got = self.served[path] = webfetch.get(self.base, path)
            if got.status == 200:
                queue += self._references(path, got)

    def _from_manifest(self, body: bytes) -> list[str]:
        try:
            entries = json.loads(body)["assets"].values()
            return [p for e in entries for p in self._expand("/" + str(e["path"]))]
        except (ValueError, KeyError, TypeError, AttributeError):
            return []

    def _expand(self, path: str) -> list[str]:
        """A Pyodide directory stands for the files Pyodide loads from it by name."""
        if path.endswith("/"):
            return [path + name for name in self.expected.pyodide_files]
        return [] if path in ("/index.html",) else [path]

    def _references(self, path: str, got: webfetch.Got) -> list[str]:
        kind = got.headers.get("content-type", "")
        text = got.body.decode("utf-8", "replace")
        found: list[str] = []
        if kind.startswith("text/html"):
            parser = _Refs()
            parser.feed(text)
            if parser.inline:
                self.foreign.append(f"{parser.inline} inline script(s) in {path}")
            for url in parser.urls:
                target = urlsplit(urljoin(self.base + path, url))
                if url.startswith("meta-refresh:") or target.netloc != urlsplit(self.base).netloc:
                    self.foreign.append(f"{url} (in {path})")
                else:
                    found += self._expand(target.path)
        elif kind.startswith(("text/javascript", "text/css", "application/json")):
            for ref in _HASHED.findall(text):
                found += self._expand(urlsplit(urljoin(path, "./" + ref)).path)
        return found


def _header_problems(path: str, got: webfetch.Got, tls: bool) -> list[str]:
    if path in PAGES:
        wanted = webheaders.page_headers(tls)
    elif path == "/manifest.json":
        wanted = webheaders.manifest_headers(tls)
    else:
        wanted = webheaders.asset_headers(path.rsplit("/", 1)[-1], tls)
    problems = []
    for name, value in wanted.items():
        served = got.headers.get(name)
        if served != value:
            shown = "absent" if served is None else repr(served)
            problems.append(f"header {name}: {shown}, expected {value or 'absent'!r}")
    return problems


def compare(crawl: Crawl) -> list[Row]:
    expected = crawl.expected
    tls = crawl.base.startswith("https://")
    left = dict(crawl.served)
    rows: list[Row] = []
    for path, digest in expected.files.items():
        name = expected.names[path]
        got = left.pop(path, None)
        if got is None:
            other = next((p for p in left if logical(p) == name), None)
            if other is None:
                rows.append(Row(name, path, "missing", "not referenced by the served code"))
            else:
                left.pop(other)
                rows.append(Row(name, other, "changed", f"served as {other}, expected {path}"))
            continue
        if got.status != 200:
            rows.append(Row(name, path, "missing", f"HTTP {got.status}"))
            continue
        problems = [] if webexpect.sha256(got.body) == digest else ["content differs"]
        problems += _header_problems(path, got, tls)
        rows.append(Row(name, path, "changed" if problems else "ok", "; ".join(problems)))
    for path, got in left.items():
        rows.append(
            Row(logical(path), path, "unexpected", f"HTTP {got.status}, {len(got.body)} bytes")
        )
    rows += [Row("reference", "", "unexpected", what) for what in crawl.foreign]
    return rows


def verify(url: str, fresh: bool = False) -> tuple[webexpect.Expected, list[Row]]:
    if not url and not os.environ.get("ZKVAULT_SERVER"):
        raise CliError(
            "no server given: zkvault web verify URL (or set ZKVAULT_SERVER)", USAGE, "usage"
        )
    base = server_url(url)
    expected = webexpect.load(fresh)
    manifest = webfetch.get(base, "/manifest.json")
    try:
        source = json.loads(manifest.body)["source"] if manifest.status == 200 else None
    except (ValueError, KeyError, TypeError):
        source = None
    if not isinstance(source, str):
        raise CliError(
            f"{base} does not serve a zkvault web app (no build manifest at /manifest.json, "
            f"HTTP {manifest.status}); check the address",
            NOT_COMPARABLE,
            "not_zkvault",
        )
    if source != expected.source:
        raise CliError(
            f"{base} serves the web app of another source version ({source[:12]}…; this "
            f"zkvault's is {expected.source[:12]}…): verify with the zkvault of the "
            "server's version",
            NOT_COMPARABLE,
            "version_mismatch",
        )
    crawl = Crawl(base, expected)
    crawl.run(manifest)
    return expected, compare(crawl)


def cmd_verify(args: Any) -> int:
    expected, rows = verify(args.url, args.fresh)
    bad = [r for r in rows if r.status != "ok"]
    if args.json:
        print(json.dumps({
            "ok": not bad, "source": expected.source, "expected_from": expected.origin,
            "assets": [r.__dict__ for r in rows], "not_checked": list(NOT_CHECKED),
        }, separators=(",", ":")))  # fmt: skip
        return TAMPERED if bad else 0
    print(f"expected: {expected.origin}, source {expected.source[:12]}…")
    width = max(len(r.asset) for r in rows)
    for r in rows:
        print(f"{r.asset:<{width}}  {r.status:<10}  {r.detail or r.path}".rstrip())
    print("not checked: " + "; ".join(NOT_CHECKED) + ".")
    if bad:
        print(f"DIFFERS: {len(bad)} of {len(rows)} assets are not this version's build")
        return TAMPERED
    print(f"all {len(rows)} assets and their security headers match this version's build")
    return 0
