"""Drive run_in_pyodide.mjs from CPython: one long-lived Node process, JSON lines.

    with PyodideSession(wheel) as py:
        py.put_support_file(Path("tests/vectors/checker.py"), as_name="checker.py")
        py.call("checker", "check_vector", vector)
        py.exec("import sys\\nresult = sys.platform")

Raises HarnessUnavailable (never skips) when node or node_modules is missing,
and PyodideError when Python code inside Pyodide raised.
"""

from __future__ import annotations

import itertools
import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_in_pyodide.mjs")
STARTUP_TIMEOUT_S = 120.0


class HarnessUnavailable(RuntimeError):
    """Node, node_modules or the wheel is missing: Pyodide cannot run here."""


class PyodideError(AssertionError):
    """Python code inside Pyodide raised; carries its type, message and traceback."""

    def __init__(self, error: str, message: str, tb: str) -> None:
        super().__init__(f"inside Pyodide: {error}: {message}\n{tb}")
        self.error = error
        self.message = message
        self.traceback = tb


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise HarnessUnavailable("`node` is not on PATH: install Node.js 20+")
    if not (ROOT / "node_modules" / "pyodide" / "package.json").exists():
        raise HarnessUnavailable("node_modules/pyodide is missing: run scripts/bootstrap.sh")
    return node


class PyodideSession:
    def __init__(self, wheel: Path, *, argon2_module: bool = True, runner: Path = RUNNER) -> None:
        cmd = [node_executable(), str(runner), "--wheel", str(wheel)]
        if not argon2_module:
            cmd.append("--no-argon2-module")
        self._proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._stderr: list[str] = []
        # Drain stderr continuously so a chatty child cannot block on a full pipe.
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._ids = itertools.count(1)
        ready = self._read_line(STARTUP_TIMEOUT_S)
        if not ready.get("ready"):
            raise HarnessUnavailable(f"unexpected first line from the harness: {ready}")
        self.info: dict[str, Any] = ready

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line if len(line) <= 2000 else line[:2000] + " [...]\n")

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of file

    def stderr_text(self) -> str:
        return "".join(self._stderr[-200:])

    def _read_line(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self._proc.kill()
            raise TimeoutError(
                f"Pyodide harness gave no answer in {timeout} s\n{self.stderr_text()}"
            ) from None
        if not line:
            code = self._proc.wait(timeout=10)
            self._stderr_thread.join(timeout=5)
            message = f"Pyodide harness exited with status {code}:\n{self.stderr_text()}"
            if code == 2:
                raise HarnessUnavailable(message)
            raise RuntimeError(message)
        return json.loads(line)  # type: ignore[no-any-return]

    def request(self, payload: dict[str, Any], timeout: float = 120.0) -> Any:
        assert self._proc.stdin is not None
        request_id = next(self._ids)
        self._proc.stdin.write(json.dumps({"id": request_id, **payload}) + "\n")
        self._proc.stdin.flush()
        response = self._read_line(timeout)
        if response.get("id") != request_id:
            raise RuntimeError(f"harness answered request {response.get('id')}, not {request_id}")
        if not response["ok"]:
            raise PyodideError(response["error"], response["message"], response["traceback"])
        return response["result"]

    def put_support_file(self, path: Path, as_name: str | None = None) -> str:
        """Copy a test-support .py file into Pyodide, importable by its (or as_name's) stem."""
        source = path.read_text(encoding="utf-8")
        return str(self.request({"op": "put_file", "name": as_name or path.name, "source": source}))

    def call(self, module: str, func: str, *args: Any, **kwargs: Any) -> Any:
        return self.request(
            {"op": "call", "module": module, "func": func, "args": list(args), "kwargs": kwargs}
        )

    def exec(self, code: str, timeout: float = 120.0) -> Any:
        """Run code in a persistent namespace; returns the value it assigns to `result`."""
        return self.request({"op": "exec", "code": code}, timeout=timeout)

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> PyodideSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
