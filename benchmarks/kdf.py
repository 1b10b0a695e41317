"""Argon2id (m=64 MiB, t=3, p=1, 32-byte output): native vs inside Pyodide.

    .venv/bin/python benchmarks/kdf.py [--runs 9] [--no-browser] [--json FILE]

Prints a markdown table: PyNaCl and argon2-cffi natively, then each Pyodide candidate
(called from Python inside Pyodide, as vault_core calls it) under Node and, when
/usr/bin/chromium and Playwright are present, in headless Chromium; plus the same
candidates called straight from JS. All warm (two warm-up calls each).

Measured in paired rounds: every candidate call comes right after a native PyNaCl call,
and "÷ PyNaCl" is the median over rounds of candidate / that adjacent native time, so
background load on a shared 2-core machine hits both sides of each ratio alike.

Optional extra candidates are measured when installed (they are not dependencies):
    npm install --no-save hash-wasm@4.13.0 argon2id@1.0.1
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vault_core.backend.native import NativeBackend  # noqa: E402

PASSPHRASE, SALT, OPS, MEM_KIB, OUT_LEN = b"correct horse", bytes(16), 3, 65536, 32
CHROMIUM = "/usr/bin/chromium"


def _timed(fn: Callable[[], bytes]) -> dict[str, Any]:
    t = time.perf_counter()
    out = fn()
    return {"ms": (time.perf_counter() - t) * 1000, "hex": out.hex()}


def native_candidates() -> dict[str, Callable[[], dict[str, Any]]]:
    from argon2.low_level import Type, hash_secret_raw

    backend = NativeBackend()
    return {
        "PyNaCl (libsodium) via NativeBackend": lambda: _timed(
            lambda: bytes(backend.argon2id(OUT_LEN, PASSPHRASE, SALT, OPS, MEM_KIB * 1024))
        ),
        "argon2-cffi (reference C)": lambda: _timed(
            lambda: hash_secret_raw(
                PASSPHRASE,
                SALT,
                time_cost=OPS,
                memory_cost=MEM_KIB,
                parallelism=1,
                hash_len=OUT_LEN,
                type=Type.ID,
            )
        ),
    }


def build_wheel(out_dir: Path) -> Path:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_wheel.py"), str(out_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(out)


class NodeBench:
    """kdf_pyodide.mjs as a long-lived process: one candidate name in, one timing out."""

    def __init__(self, wheel: Path) -> None:
        node_bin = shutil.which("node")
        if node_bin is None or not (ROOT / "node_modules" / "pyodide").is_dir():
            raise SystemExit("kdf.py: node and node_modules are required (scripts/bootstrap.sh)")
        self._proc = subprocess.Popen(
            [node_bin, str(ROOT / "benchmarks" / "kdf_pyodide.mjs"), "--wheel", str(wheel)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        ready = self._line()
        self.runtime: str = ready["runtime"]
        self.names: list[str] = ready["names"]

    def _line(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise SystemExit(f"kdf.py: the Node benchmark exited ({self._proc.wait()})")
        data: dict[str, Any] = json.loads(line)
        if "error" in data:
            raise SystemExit(f"kdf.py: the Node benchmark failed:\n{data['error']}")
        return data

    def once(self, name: str) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(name + "\n")
        self._proc.stdin.flush()
        return self._line()

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the repo's benchmark, harness and node_modules files, and the wheel."""

    wheel: Path
    extensions_map = {  # noqa: RUF012 - the stdlib's own class attribute
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
    }

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0]
        if clean == f"/wheel/{self.wheel.name}":
            return str(self.wheel)
        if not clean.startswith(("/node_modules/", "/benchmarks/", "/tests/pyodide/")):
            return str(ROOT / "does-not-exist")
        return super().translate_path(path)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _server(wheel: Path) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"wheel": wheel})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(ROOT))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def chromium(wheel: Path) -> Iterator[Any]:
    """Yields an object with runtime, names and once(name), or a reason string."""
    if not Path(CHROMIUM).exists():
        yield f"skipped: {CHROMIUM} not installed"
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield "skipped: Python Playwright not installed"
        return
    extras = "".join(
        f"&{name}=1"
        for name in ("hash-wasm", "argon2id")
        if (ROOT / "node_modules" / name).is_dir()
    )
    with _server(wheel) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{base}/benchmarks/kdf_browser.html?wheel=/wheel/{wheel.name}{extras}")
            page.wait_for_function("window.kdfBench || window.kdfError", timeout=300_000)
            error = page.evaluate("window.kdfError")
            if error:
                raise SystemExit(f"kdf.py: the Chromium benchmark failed:\n{error}")

            class Page:
                runtime = f"Chromium {browser.version}"
                names: list[str] = page.evaluate("window.kdfBench.names")

                @staticmethod
                def once(name: str) -> dict[str, Any]:
                    result: dict[str, Any] = page.evaluate(
                        "name => window.kdfBench.once(name)", name
                    )
                    return result

            yield Page
        finally:
            browser.close()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def measure(runtimes: list[Any], runs: int) -> list[dict[str, Any]]:
    native = native_candidates()
    pynacl = next(iter(native.values()))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    everything: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
        ("CPython " + platform.python_version(), n, f) for n, f in native.items()
    ]
    for rt in runtimes:
        for name in rt.names:
            env, label = name.split(":", 1)
            where = f"Pyodide in {rt.runtime}" if env == "pyodide" else f"plain JS in {rt.runtime}"
            everything.append((where, label, functools.partial(rt.once, name)))
    for _where, _label, fn in everything:  # warm-up: tier-up and memory growth, not sampled
        fn()
        fn()
    for _ in range(runs):
        for where, label, fn in everything:
            base = pynacl()
            got = fn()
            row = rows.setdefault(
                (where, label),
                {"runtime": where, "name": label, "ms": [], "ratios": [], "hex": got["hex"]},
            )
            row["ms"].append(got["ms"])
            row["ratios"].append(got["ms"] / base["ms"])
            if got["hex"] != row["hex"]:
                row["hex"] = "differs between runs"
            rows.setdefault(("native", "pynacl"), {"ms": [], "hex": base["hex"]})["ms"].append(
                base["ms"]
            )
    reference = rows.pop(("native", "pynacl"))
    out = list(rows.values())
    for row in out:
        row["same_bytes"] = row["hex"] == reference["hex"]
    out[0]["all_pynacl_ms"] = reference["ms"]
    return out


def report(rows: list[dict[str, Any]], runs: int, skipped: list[str]) -> str:
    pynacl_ms = rows[0]["all_pynacl_ms"]
    lines = [
        f"Machine: {os.cpu_count()} cores, {_cpu_model()}. Argon2id m=64 MiB, t=3, p=1, "
        f"32 bytes. {runs} paired rounds; PyNaCl median over all {len(pynacl_ms)} of its runs: "
        f"{statistics.median(pynacl_ms):.0f} ms.",
        "",
        "| runtime | implementation | median ms (min) | ÷ PyNaCl (median of pairs) "
        "| bytes = PyNaCl |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['runtime']} | {r['name']} | {statistics.median(r['ms']):.0f} "
            f"({min(r['ms']):.0f}) | {statistics.median(r['ratios']):.2f} "
            f"| {'yes' if r['same_bytes'] else 'NO'} |"
        )
    lines += [f"| {s} | | | | |" for s in skipped]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="paired rounds (default 9)")
    parser.add_argument("--no-browser", action="store_true", help="skip headless Chromium")
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    args = parser.parse_args(argv)
    skipped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        wheel = build_wheel(Path(tmp))
        node_bench = NodeBench(wheel)
        stack.callback(node_bench.close)
        runtimes: list[Any] = [node_bench]
        if not args.no_browser:
            browser = stack.enter_context(chromium(wheel))
            if isinstance(browser, str):
                skipped.append(f"Chromium {browser}")
            else:
                runtimes.append(browser)
        rows = measure(runtimes, args.runs)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(report(rows, args.runs, skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
