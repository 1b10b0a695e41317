"""Runs inside Pyodide: the Python end of run_in_pyodide.mjs's JSON-lines protocol.

Requests (one JSON object each; "id" is echoed back):
  {"op": "put_file", "name": "pkg/mod.py", "source": "..."}  write under SUPPORT_DIR (importable)
  {"op": "call", "module": "m", "func": "f", "args": [...], "kwargs": {...}}
  {"op": "exec", "code": "..."}  run in a persistent namespace; returns its `result`
Responses: {"id", "ok": true, "result": ...} or {"id", "ok": false, "error", "message",
"traceback"}. Results must be JSON-serialisable (send bytes as hex).
"""

import importlib
import json
import os
import sys
import traceback
from typing import Any

SUPPORT_DIR = "/zk_support"
os.makedirs(SUPPORT_DIR, exist_ok=True)
sys.path.insert(0, SUPPORT_DIR)
_NS: dict[str, Any] = {"__name__": "__zk_exec__"}


def _put_file(name: str, source: str) -> str:
    target = os.path.normpath(os.path.join(SUPPORT_DIR, name))
    if not target.startswith(SUPPORT_DIR + "/"):
        raise ValueError(f"path escapes {SUPPORT_DIR}: {name}")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write(source)
    # A re-sent file must be re-imported, not served from the module cache.
    module = os.path.splitext(os.path.relpath(target, SUPPORT_DIR))[0].replace("/", ".")
    sys.modules.pop(module, None)
    importlib.invalidate_caches()
    return target


def _handle(request: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "ping":
        return {"platform": sys.platform, "version": sys.version}
    if op == "put_file":
        return _put_file(request["name"], request["source"])
    if op == "call":
        module = importlib.import_module(request["module"])
        func = getattr(module, request["func"])
        return func(*request.get("args", []), **request.get("kwargs", {}))
    if op == "exec":
        _NS.pop("result", None)
        exec(compile(request["code"], "<harness exec>", "exec"), _NS)
        return _NS.get("result")
    raise ValueError(f"unknown op {op!r}")


def _zk_dispatch(line: str) -> str:
    request_id = None
    try:
        request = json.loads(line)
        request_id = request.get("id")
        result = _handle(request)
        return json.dumps({"id": request_id, "ok": True, "result": result})
    except BaseException as error:  # reported to the caller, never swallowed
        return json.dumps(
            {
                "id": request_id,
                "ok": False,
                "error": f"{type(error).__module__}.{type(error).__qualname__}",
                "message": str(error),
                "traceback": traceback.format_exc(),
            }
        )
