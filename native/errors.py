"""The CLI's one error type and its documented exit codes.

Every failure the user can cause or fix surfaces as a ``CliError``: one line
saying what happened and what to do next. Messages never carry secrets.
"""

from __future__ import annotations

FAILURE = 1  # anything not listed below
USAGE = 2  # bad arguments (argparse uses 2 as well)
LOCKED = 3  # no agent running / vault locked
NOT_FOUND = 4  # no such item, or nothing matched
STATE = 5  # local state missing, corrupted, rolled back, or vault failed integrity
AUTH = 6  # wrong passphrase
NETWORK = 7  # server unreachable or answered with an unexpected error
REVOKED = 8  # this machine or runner is no longer authorised
TIMEOUT = 9  # waited too long (pairing approval)
OUT_OF_SCOPE = 10  # a `zkvault ssh` session does not share that item or host
# what a server shows differs from what this client can check: `web verify` (the served
# app against this version's build), `audit verify` (the chain against the vault's anchors)
TAMPERED = 11
NOT_COMPARABLE = 12  # zkvault web verify: not a zkvault server, or another source version
PLAINTEXT_FOUND = 20  # zkvault scan: plaintext credentials found (a CI gate's failure)
DOCTOR_FAILED = 21  # zkvault doctor: at least one check failed (warnings alone exit 0)
INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """A failure reported as ``zkvault: <message>`` with a fixed exit code."""

    def __init__(self, message: str, exit_code: int = FAILURE, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code
