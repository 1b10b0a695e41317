"""``zkvault connect``: pair this machine, then keep its credentials and vault locally."""

from __future__ import annotations

import argparse
import contextlib
import socket
import time

from native import client
from native.api import Api, ApiError, b64url_encode, server_url
from native.dpop import DpopKey
from native.errors import STATE, CliError
from native.pairing import pair
from native.state import LocalState, StateStore


def cmd_connect(args: argparse.Namespace) -> int:
    store = StateStore()
    remembered = None
    if store.exists():
        if not args.clean:
            existing = store.load()
            server = existing.server or "a vault"
            was = (
                f"was connected to {server} and revoked (since {existing.revoked_at})"
                if existing.revoked_at
                else f"is already connected to {server}"
            )
            raise CliError(
                f"this machine {was}; use `zkvault connect --clean` to pair again",
                STATE,
                "connected",
            )
        with contextlib.suppress(CliError):  # a damaged state is what --clean is for
            remembered = store.load().server
        if client.agent_running():
            client.request("lock")
        store.clear()
    url = server_url(args.server, remembered)
    # This machine's DPoP key: the pairing is bound to it, and so is every token after.
    dpop = DpopKey.generate()
    api = Api(url, dpop)
    from nacl.public import PrivateKey

    # The key only identifies this pairing on screen (the fingerprint); it is not kept.
    key = PrivateKey.generate()
    requested = args.name or socket.gethostname()
    approved = pair(api, "machine", requested, bytes(key.public_key), args.timeout)
    name = str(approved.get("name") or requested)  # the owner may have renamed it at approval
    state = LocalState(
        server=url,
        machine_id=str(approved["client_id"]),
        machine_name=name,
        account_id=str(approved["account_id"]),
        refresh_token=str(approved["refresh_token"]),
        dpop_seed=b64url_encode(dpop.seed),
    )
    with store.locked():
        store.save(state)
    revision = _first_sync(store, api, str(approved["access_token"]))
    where = f"vault revision {revision}" if revision else "no vault yet (create it in the web app)"
    me = _account(api, str(approved["access_token"]))
    if getattr(args, "json", False):
        import json

        answer = {
            "ok": True,
            "server": url,
            "machine": name,
            "machine_id": state.machine_id,
            "account_id": state.account_id,
            "email": me.get("email"),
            "issuer": me.get("issuer"),
            "revision": revision or None,
        }
        print(json.dumps(answer, separators=(",", ":")))
        return 0
    account = f" in the account {me['email']} (signed in at {me['issuer']})" if me else ""
    print(f"connected to {url} as {name!r}{account}; {where}. Next: `zkvault unlock`")
    return 0


def _account(api: Api, access_token: str) -> dict[str, str | None]:
    """Which account approved this machine (issuer and email), for the person to check."""
    try:
        me = api.call("GET", "/api/me", token=access_token)
    except ApiError:
        return {}  # informational only: pairing itself succeeded
    return {"email": me.get("email"), "issuer": me.get("issuer")}


def _first_sync(store: StateStore, api: Api, access_token: str) -> int:
    """Keep the server's vault as the first local copy; it is authenticated (and the
    highest-revision mark set) at the first `unlock`."""
    from native.sync import checked

    try:
        remote = api.call("GET", "/api/vault", token=access_token)
    except ApiError as exc:
        if exc.code == "no_vault":
            return 0
        raise CliError(
            f"could not fetch the vault ({exc.code}); `zkvault unlock` retries", STATE, exc.code
        ) from None
    from vault_core import peek_header

    with store.update() as state:
        blob = checked(state, remote)
        state.vault_blob = blob
        state.vault_id = str(peek_header(blob).vault_id)
        state.synced_at = time.time()
    return peek_header(blob).revision
