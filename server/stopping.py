"""Hearing SIGTERM/SIGINT before uvicorn acts on them.

uvicorn stops accepting, then waits ``timeout_graceful_shutdown`` for requests in flight
and cancels what is left (a 500 with a traceback). Long polls would wait out that whole
time, so the app wants the signal itself: the handler installed here runs the callback,
then uvicorn's own handler. Installed from the app's lifespan start-up, which uvicorn runs
with its handlers in place; uvicorn puts back the originals when it stops, so this one
lives exactly as long as the server.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


def on_stop_signal(callback: Callable[[], None]) -> None:
    """``callback`` must be safe in a signal handler (set flags, take no lock)."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals are handled by the main thread only (an embedding test, say)
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # not uvicorn's: leave default and ignored signals alone

        def handler(
            signum: int,
            frame: FrameType | None,
            previous: Callable[[int, FrameType | None], object] = previous,
        ) -> None:
            callback()
            previous(signum, frame)

        signal.signal(sig, handler)
