"""What a service can refuse, in the domain's words; server/errors.py maps each to HTTP.

Services raise these and never speak HTTP: a class says what went wrong, `code`
is the stable machine-readable name a client switches on (docs/server.md).
"""

from __future__ import annotations


class DomainError(Exception):
    """Base: a refusal with a stable code and a message safe to show (no input echoed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotAuthenticated(DomainError):
    """The credential presented proves nothing (missing, malformed, forged, expired)."""


class Revoked(NotAuthenticated):
    """The client behind a valid token has been revoked, or never existed."""


class InvalidGrant(NotAuthenticated):
    """A refresh token or runner credential is invalid, expired, reused or revoked."""


class NotFound(DomainError):
    """No such thing for this caller (another account's id answers the same)."""


class Forbidden(DomainError):
    """The caller is known here but its role does not allow this (a team reader writing,
    a member reading the team's audit trail)."""


class Gone(DomainError):
    """It existed, but is used up: a pairing already claimed."""


class Conflict(DomainError):
    """A write lost a race; `current_revision` says where the stored copy is."""

    def __init__(self, code: str, message: str, *, current_revision: int | None = None) -> None:
        super().__init__(code, message)
        self.current_revision = current_revision


class RevisionConflict(Conflict):
    def __init__(self, message: str, *, current_revision: int | None = None) -> None:
        super().__init__("revision_conflict", message, current_revision=current_revision)


class Invalid(DomainError):
    """Well-formed request, unacceptable content (a vault header naming another account)."""


class TooLarge(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("too_large", message)


class RateLimited(DomainError):
    """Over a limit; `retry_after` is how many seconds until the window ends."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__("rate_limited", message)
        self.retry_after = retry_after


class HistoryFull(DomainError):
    """A write would grow the account's kept history past its bound; nothing was stored."""

    def __init__(self, message: str) -> None:
        super().__init__("history_full", message)


class Unavailable(DomainError):
    """A transient refusal: retry later."""


class SignInRefused(DomainError):
    """A browser's sign-in callback cannot complete (state, code or identity refused)."""
