"""The worker's one error type: a code the page shows in ``data-code`` and a fixed,
secret-free sentence. Its own module so that helpers of the session (ssh_items) raise it
without importing the session."""

from __future__ import annotations


class SessionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
