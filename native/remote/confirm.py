"""``--confirm``: the person at this terminal approves each item's first use.

ssh shares the terminal (and may hold it in raw mode), so while asking we stop ssh
(SIGSTOP), put the terminal in line mode with echo, ask on /dev/tty, restore the
terminal exactly, and let ssh continue (SIGCONT). No terminal, or no clear "y",
means no: the request is refused.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import termios
import threading
import time

ANSWER_TIMEOUT = 60.0  # no answer in time is a no (the builder's client waits 120 s)


class Confirmer:
    def __init__(self, tty_path: str = "/dev/tty") -> None:
        self.tty_path = tty_path
        self.ssh_pid: int | None = None
        self.decided: dict[str, bool] = {}  # one question per item per session
        self._lock = threading.Lock()

    def allowed(self, names: list[str], what: str) -> bool:
        with self._lock:  # one question on the terminal at a time
            for name in names:
                if name not in self.decided:
                    self.decided[name] = self._ask(name, what)
                if not self.decided[name]:
                    return False
            return True

    def _ask(self, name: str, what: str) -> bool:
        try:
            fd = os.open(self.tty_path, os.O_RDWR | os.O_NOCTTY)
        except OSError:
            return False
        if self.ssh_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.ssh_pid, signal.SIGSTOP)
                _wait_stopped(self.ssh_pid)
        try:
            saved = termios.tcgetattr(fd) if os.isatty(fd) else None
            if saved is not None:
                line_mode = termios.tcgetattr(fd)
                line_mode[1] |= termios.OPOST | termios.ONLCR
                line_mode[3] |= termios.ICANON | termios.ECHO
                termios.tcsetattr(fd, termios.TCSANOW, line_mode)
            try:
                if saved is not None:
                    termios.tcflush(fd, termios.TCIFLUSH)  # type-ahead is not an answer
                shown = "".join(c if c.isprintable() else "?" for c in name)[:80]
                question = (
                    f"\r\nzkvault ssh: the builder asks for {shown!r} ({what}). Allow? [y/N] "
                )
                os.write(fd, question.encode())
                answer = ""
                if select.select([fd], [], [], ANSWER_TIMEOUT)[0]:
                    answer = os.read(fd, 256).decode(errors="replace").strip().lower()
                else:
                    os.write(fd, b"(no answer: refused)\r\n")
            finally:
                if saved is not None:
                    termios.tcsetattr(fd, termios.TCSANOW, saved)
        except (OSError, termios.error):
            answer = ""
        finally:
            os.close(fd)
            if self.ssh_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.ssh_pid, signal.SIGCONT)
        return answer in ("y", "yes")


def _wait_stopped(pid: int) -> None:
    """Until ssh has really stopped, it could still read the answer meant for us."""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rpartition(")")[2].split()[0] in ("T", "t"):
                    return
        except OSError:  # no procfs (macOS, the BSDs): give the signal a moment
            time.sleep(0.05)
            return
        time.sleep(0.002)
