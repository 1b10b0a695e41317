"""The local record of a forwarded session: one JSON line per request, never a secret.

``$ZKVAULT_HOME/ssh-audit.log`` (0600, in the 0700 state directory), appended to by
every ``zkvault ssh`` session. Each line: time (UTC), session id, destination, the
remote command, the request (op, item names or git host), and whether it was answered
or refused and why. Values are item names and hosts as the builder sent them, bounded
in length; answers (secrets) are never passed in.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from native import paths
from native.fsutil import private_dir

FILE_NAME = "ssh-audit.log"


def log_path() -> str:
    return os.path.join(paths.state_dir(), FILE_NAME)


class AuditLog:
    def __init__(self, session: str, destination: str, command: str) -> None:
        self.base = {"session": session, "destination": destination, "command": command}
        self._lock = threading.Lock()
        private_dir(paths.state_dir())
        self.path = log_path()
        # O_NOFOLLOW: a symlink planted here must not redirect the log.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.fchmod(self._fd, 0o600)

    def write(self, event: str, **fields: Any) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self.base,
            "event": event,
            **fields,
        }
        line = (json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._fd >= 0:  # a request still in flight as the session closes: dropped
                os.write(self._fd, line)  # one write with O_APPEND: lines never interleave

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = -1  # never write to a number the process may have reused
