"""``--confirm``: the person at this terminal approves each item's first use.

ssh shares the terminal (and may hold it in raw mode), so while asking we stop ssh
(SIGSTOP), put the terminal in line mode with echo, ask on /dev/tty, restore the
terminal exactly, and let ssh continue (SIGCONT). No terminal, or no clear "y",
means no: the request is refused.
"""

from __future__ import annotations

import contextlib
import os
import signal
import termios
import threading


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
        try:
            saved = termios.tcgetattr(fd) if os.isatty(fd) else None
            if saved is not None:
                line_mode = termios.tcgetattr(fd)
                line_mode[1] |= termios.OPOST | termios.ONLCR
                line_mode[3] |= termios.ICANON | termios.ECHO
                termios.tcsetattr(fd, termios.TCSANOW, line_mode)
            try:
                shown = "".join(c if c.isprintable() else "?" for c in name)[:80]
                question = (
                    f"\r\nzkvault ssh: the builder asks for {shown!r} ({what}). Allow? [y/N] "
                )
                os.write(fd, question.encode())
                answer = os.read(fd, 256).decode(errors="replace").strip().lower()
            finally:
                if saved is not None:
                    termios.tcsetattr(fd, termios.TCSANOW, saved)
        except OSError:
            answer = ""
        finally:
            os.close(fd)
            if self.ssh_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.ssh_pid, signal.SIGCONT)
        return answer in ("y", "yes")
