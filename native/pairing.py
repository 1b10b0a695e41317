"""The pairing handshake shared by `connect` (machines) and `runner enroll`.

The client makes a key pair, asks the server for a pairing, shows the code,
the one-time URL and the fingerprint of its public key (vault_core's, computed
here; docs/pairing.md), then polls until the owner decides. The URL's fragment
carries that fingerprint and the pairing's id too, so a browser following the link
checks the key and the id the server hands it against them; the fragment never
reaches the server. The approval must name that same id: the id is the pairing's own,
which this client learnt from its own request, never a later answer's word.
"""

from __future__ import annotations

import sys
import time
import urllib.parse
import uuid
from typing import Any

from native.api import Api, ApiError, b64url_encode
from native.errors import NETWORK, REVOKED, STATE, TIMEOUT, CliError


def link(server_link: str, code: str, fp: str, pairing_id: str) -> str:
    """The one-time URL with our own fragment: the code, this key's fingerprint and the
    pairing's id (the id the owner's browser will pin the key under)."""
    parts = urllib.parse.urlsplit(server_link)
    fragment = f"code={code}&fp={fp}&id={pairing_id}"
    return urllib.parse.urlunsplit(parts._replace(fragment=fragment))


def check_id(created: str, approved: dict[str, Any]) -> str:
    """The id the approval names must be the pairing this client created: a server that
    answers with another client's id (an enrolled production runner's, say) would have
    this key stored under it, and the owner's pin for that id replaced."""
    try:
        same = uuid.UUID(str(approved.get("client_id"))) == uuid.UUID(created)
    except ValueError:
        same = False
    if not same:  # the server's text is not echoed: it could be anything
        raise CliError(
            f"the server approved this pairing under another id than {created}, the id of"
            " the pairing this client made; refusing it, nothing was stored. The server may"
            " be compromised: tell the vault's owner",
            STATE,
            "pairing_id_mismatch",
        )
    return created


def pair(api: Api, kind: str, name: str, public_key: bytes, timeout: float) -> dict[str, Any]:
    """Run the handshake; returns the one-time approval answer."""
    from vault_core import fingerprint as key_fingerprint

    mine = key_fingerprint(kind, public_key)
    try:
        created = api.call(
            "POST",
            "/api/pairings",
            {"kind": kind, "name": name, "public_key": b64url_encode(public_key)},
        )
    except ApiError as exc:
        raise CliError(
            f"the server refused the pairing request ({exc.code}); try again later",
            NETWORK,
            exc.code,
        ) from None
    err = sys.stderr
    try:
        pairing_id = str(uuid.UUID(str(created.get("pairing_id"))))  # one spelling
    except ValueError:
        raise CliError(
            "the server's pairing answer has no valid id", NETWORK, "malformed"
        ) from None
    url = link(str(created["url"]), str(created["code"]), mine, pairing_id)
    print(f"To approve this {kind}, open:\n\n    {url}\n", file=err)
    print(f"or enter the code {created['code']} in the zkvault web app.", file=err)
    print(f"Check that the page shows this fingerprint: {mine}", file=err)
    print("Waiting for approval (Ctrl-C to cancel)...", file=err, flush=True)
    interval = max(1.0, float(created.get("poll_interval_seconds", 2)))
    deadline = time.monotonic() + timeout
    body = {"pairing_id": pairing_id, "poll_secret": created["poll_secret"]}
    down = False  # the server could not be reached at the last poll (said once)
    while True:
        try:
            status = api.call("POST", "/api/pairings/poll", body)
        except ApiError as exc:
            raise CliError(
                f"pairing failed ({exc.code}); run the command again", NETWORK, exc.code
            ) from None
        except CliError as exc:
            # A server restarting (or a network blip): the pairing is kept by the server,
            # so keep asking until this command's own timeout.
            if exc.exit_code != NETWORK or time.monotonic() + interval > deadline:
                raise
            if not down:
                print(
                    f"The server cannot be reached right now ({exc.code}); still waiting "
                    f"for approval, retrying until the {int(timeout)}s timeout...",
                    file=err,
                    flush=True,
                )
            down = True
            time.sleep(interval)
            continue
        if down:
            print("The server answers again; still waiting for approval...", file=err, flush=True)
            down = False
        state = status.get("status")
        if state == "approved":
            check_id(pairing_id, status)
            return status
        if state == "refused":
            raise CliError("the pairing was refused in the browser", REVOKED, "refused")
        if state == "expired":
            raise CliError("the pairing code expired; run the command again", TIMEOUT, "expired")
        if time.monotonic() + interval > deadline:
            raise CliError(
                f"no approval within {int(timeout)}s; run the command again", TIMEOUT, "timeout"
            )
        time.sleep(interval)
