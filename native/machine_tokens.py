"""Machine tokens: refresh (rotating, one at a time under the state lock) and checks.

Only a definite answer de-pairs a machine: the server refusing its refresh token, or
naming the client revoked. A token the server cannot verify right now (signing keys
being rotated, a clock ahead), a 5xx, a timeout or a network error is "cannot verify
right now": the caller retries later and the machine stays paired.
"""

from __future__ import annotations

import time
from typing import Any

from native.api import Api, ApiError
from native.errors import NETWORK, REVOKED, STATE, CliError
from native.state import StateStore

REVOKED_MESSAGE = (
    "this machine is no longer authorised (revoked in the browser, or its "
    "credentials expired); run `zkvault connect --clean` to pair again"
)
# A lost response: the same refresh token is sent again, with this machine's DPoP key, and
# the server hands back the same successor, however late (docs/cli.md, "The agent").
_REFRESH_RETRY_DELAYS = (0.5, 1.5)


def revoked() -> CliError:
    return CliError(REVOKED_MESSAGE, REVOKED, "revoked")


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def mark_revoked(store: StateStore) -> CliError:
    """Remember that the server revoked this machine (for `zkvault status`, git's helper
    and `get` once the agent is gone); returns the error to raise."""
    try:
        with store.update() as state:
            state.refresh_token = None  # refused for good: never spent again
            state.revoked_at = state.revoked_at or _stamp()
    except CliError:
        pass  # a damaged state says so on the commands that need it
    return revoked()


def cannot_verify() -> CliError:
    return CliError(
        "the server cannot verify this machine's token right now (its signing keys may be "
        "changing, or its clock is off); try again shortly. This machine stays paired",
        NETWORK,
        "cannot_verify",
    )


def unexpected(exc: ApiError) -> CliError:
    return CliError(f"the server refused the request ({exc.status} {exc.code})", NETWORK, exc.code)


def _spend(api: Api, token: str) -> dict[str, Any]:
    """POST the refresh token, sending the same token again after a network failure."""
    for delay in (*_REFRESH_RETRY_DELAYS, None):
        try:
            return api.call(
                "POST", "/auth/token", {"grant_type": "refresh_token", "refresh_token": token}
            )
        except CliError as exc:
            if exc.exit_code != NETWORK or delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def refresh(store: StateStore, api: Api) -> tuple[str, float]:
    """A fresh access token and when to renew it (monotonic). Rotates the stored
    refresh token.

    The state lock makes the CLI and the agent take turns (a second use of a rotated
    token by this machine's key only gets the same successor back, but one at a time
    keeps the stored chain simple).
    """
    with store.locked():
        state = store.load()
        if not state.refresh_token:
            raise revoked()
        try:
            answer = _spend(api, state.refresh_token)
        except ApiError as exc:
            # Refresh tokens are looked up, not verified with signing keys: a 401 here
            # is definite (unknown, expired, reused or revoked), unless it is about the
            # proof (a clock too far off, say): then nothing was spent or revoked.
            if exc.status == 401 and exc.code.startswith("dpop_"):
                raise cannot_verify() from None
            if exc.status != 401:
                raise unexpected(exc) from None
            state.refresh_token = None  # dead for good; remember, so we stop trying
            state.revoked_at = state.revoked_at or _stamp()
            store.save(state)
            raise revoked() from None
        if str(answer["refresh_token"]) == state.refresh_token:
            # The answer to an earlier refresh, replayed: the server (or something in
            # between) withheld the new token. Keep nothing from it; the stored token
            # stays as it was.
            raise CliError(
                "the server answered a token refresh with the token this machine had just "
                "spent (a replayed answer); refusing it. Nothing local was changed; if it "
                "happens again, pair again with `zkvault connect --clean`",
                STATE,  # like a rolled-back vault: never an excuse to go offline
                "replayed_token",
            )
        state.refresh_token = str(answer["refresh_token"])
        store.save(state)
    renew_at = time.monotonic() + float(answer.get("expires_in", 900)) - 30
    return str(answer["access_token"]), renew_at


class MachineSession:
    """Keeps an access token in memory and renews it when it expires or is refused."""

    def __init__(self, store: StateStore, api: Api) -> None:
        self.store = store
        self.api = api
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        if self._token is None or time.monotonic() >= self._renew_at:
            self._token, self._renew_at = refresh(self.store, self.api)
        return self._token

    def get(self, path: str, timeout: float | None = None) -> dict[str, Any]:
        """GET with the access token, renewing once if the server refuses it."""
        try:
            return self.api.call("GET", path, token=self.token(), timeout=timeout)
        except ApiError as exc:
            if exc.status != 401:
                raise
            if exc.code == "revoked":
                raise mark_revoked(self.store) from None
        # Expired early, revoked, or not verifiable here: a refresh tells which, since the
        # server refuses a revoked machine's refresh token.
        self._token = None
        try:
            return self.api.call("GET", path, token=self.token(), timeout=timeout)
        except ApiError as exc:
            if exc.status != 401:
                raise
            # Refreshed just now, yet refused: revoked only if the server says so.
            raise mark_revoked(self.store) if exc.code == "revoked" else cannot_verify() from None
