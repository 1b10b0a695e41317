"""Machine tokens: refresh (rotating, one at a time under the state lock) and checks."""

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


def revoked() -> CliError:
    return CliError(REVOKED_MESSAGE, REVOKED, "revoked")


def unexpected(exc: ApiError) -> CliError:
    return CliError(f"the server refused the request ({exc.status} {exc.code})", NETWORK, exc.code)


def refresh(store: StateStore, api: Api) -> tuple[str, float]:
    """A fresh access token and when to renew it (monotonic). Rotates the stored
    refresh token.

    The state lock makes the CLI and the agent take turns: the server treats a
    second use of a rotated refresh token as theft and revokes the machine.
    """
    with store.locked():
        state = store.load()
        if not state.refresh_token:
            raise revoked()
        try:
            answer = api.call(
                "POST",
                "/auth/token",
                {"grant_type": "refresh_token", "refresh_token": state.refresh_token},
            )
        except ApiError as exc:
            if exc.status != 401:
                raise unexpected(exc) from None
            state.refresh_token = None  # dead for good; remember, so we stop trying
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

    def get(self, path: str) -> dict[str, Any]:
        """GET with the access token, renewing once if the server refuses it."""
        try:
            return self.api.call("GET", path, token=self.token())
        except ApiError as exc:
            if exc.status != 401:
                raise
        self._token = None  # revoked, or expired early: the refresh tells which
        try:
            return self.api.call("GET", path, token=self.token())
        except ApiError as exc:
            raise revoked() if exc.status == 401 else unexpected(exc) from None
