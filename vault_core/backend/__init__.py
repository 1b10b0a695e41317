"""Backend selection by runtime: callers never choose (or see) the backend."""

from __future__ import annotations

import sys
from functools import cache

from .base import Backend, PrimitiveAuthError

__all__ = ["Backend", "PrimitiveAuthError", "get_backend"]


@cache
def get_backend() -> Backend:
    if sys.platform == "emscripten":
        from .pyodide import PyodideBackend

        return PyodideBackend()
    from .native import NativeBackend

    return NativeBackend()
