"""Runners: enrol once with browser approval, then work unattended from one string.

The credential string (ZKVAULT_RUNNER_CREDENTIAL) is ``zkvr1.`` followed by
base64url JSON: server URL, the server's runner credential, runner and
account ids, the runner's X25519 key seed, and the owner's grant-verify key
pinned at approval. Each call exchanges the credential for an access token,
fetches this runner's sealed grant, and opens it in memory: only the granted
items exist here, and a revoked runner is refused on its next call. The only
thing written to disk is the highest grant revision opened (the grant floor), so
that a server replaying an older grant is refused wherever the disk persists.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import uuid
from typing import Any

from native.api import Api, ApiError, b64url_decode, b64url_encode, server_url
from native.errors import NOT_FOUND, REVOKED, STATE, USAGE, CliError

PREFIX = "zkvr1."
ENV = "ZKVAULT_RUNNER_CREDENTIAL"


class RunnerCredential:
    def __init__(
        self,
        server: str,
        credential: str,
        runner_id: str,
        account_id: str,
        seed: bytes,
        owner_key: bytes | None,
    ) -> None:
        self.server = server
        self.credential = credential
        self.runner_id = runner_id
        self.account_id = account_id
        self.seed = seed
        self.owner_key = owner_key

    def __repr__(self) -> str:
        return f"<RunnerCredential runner={self.runner_id} server={self.server}>"

    def encode(self) -> str:
        body = {
            "s": self.server,
            "c": self.credential,
            "r": self.runner_id,
            "a": self.account_id,
            "k": b64url_encode(self.seed),
            "o": b64url_encode(self.owner_key) if self.owner_key else None,
        }
        return PREFIX + b64url_encode(json.dumps(body, separators=(",", ":")).encode())

    @classmethod
    def decode(cls, text: str) -> RunnerCredential:
        bad = CliError(
            f"{ENV} is not a zkvault runner credential; copy it again from `zkvault runner enroll`",
            USAGE,
            "bad_credential",
        )
        text = text.strip()
        if not text.startswith(PREFIX):
            raise bad
        try:
            body = json.loads(b64url_decode(text[len(PREFIX) :]))
            return cls(
                str(body["s"]),
                str(body["c"]),
                str(uuid.UUID(body["r"])),
                str(uuid.UUID(body["a"])),
                b64url_decode(body["k"]),
                b64url_decode(body["o"]) if body.get("o") else None,
            )
        except (ValueError, KeyError, TypeError):
            raise bad from None


class GrantSource:
    """The granted items, shaped like a vault for the agent's request handling."""

    def __init__(self, grant: Any) -> None:
        self.revision: int = grant.revision
        self._items = {g.id: g.item for g in grant.items}

    def items(self) -> list[Any]:
        infos = [item.info(item_id, self.revision) for item_id, item in self._items.items()]
        return sorted(infos, key=lambda info: info.name)

    def get(self, item_id: Any) -> Any:
        try:
            return self._items[item_id]
        except KeyError:
            raise CliError("no such item in this runner's grant", NOT_FOUND, "not_found") from None

    def lock(self) -> None:
        self._items.clear()


def _fetch_grant(cred: RunnerCredential) -> GrantSource:
    from native.vaulterrors import translate
    from vault_core import RunnerKeyPair, errors, open_grant

    api = Api(cred.server)
    try:
        token = api.call(
            "POST",
            "/auth/token",
            {"grant_type": "runner_credential", "credential": cred.credential},
        )
        grant = api.call("GET", "/api/runner/grant", token=str(token["access_token"]))
    except ApiError as exc:
        if exc.status == 401:
            raise CliError(
                "this runner is not authorised (revoked, or a wrong credential); enrol it again",
                REVOKED,
                "revoked",
            ) from None
        if exc.code == "no_grant":
            raise CliError(
                "no items are granted to this runner yet; grant some in the web app",
                NOT_FOUND,
                "no_grant",
            ) from None
        raise CliError(
            f"the server refused the request ({exc.status} {exc.code})",
            REVOKED if exc.status == 403 else NOT_FOUND,
            exc.code,
        ) from None
    owner_key = cred.owner_key or b64url_decode(str(grant.get("grant_public_key") or ""))
    keypair = RunnerKeyPair(cred.seed)
    floor_path = _floor_path(cred)
    floor = _read_floor(floor_path)
    try:
        opened = open_grant(
            b64url_decode(str(grant["blob"])),
            keypair,
            account_id=uuid.UUID(cred.account_id),
            runner_id=uuid.UUID(cred.runner_id),
            owner_verify_key=owner_key,
            min_revision=floor,
        )
    except errors.RollbackError:
        raise CliError(
            "the server sent an older grant than this runner has already opened "
            "(possible replay); refusing it",
            STATE,
            "rollback",
        ) from None
    except errors.VaultError as exc:
        raise translate(exc) from None
    finally:
        keypair.wipe()
    if opened.revision > floor:
        _raise_floor(floor_path, opened.revision)
    return GrantSource(opened)


def _floor_path(cred: RunnerCredential) -> str:
    from native.paths import state_dir

    return os.path.join(state_dir(), f"runner-{cred.runner_id}.floor")


def _read_floor(path: str) -> int:
    from native.fsutil import read_file

    text = read_file(path, limit=64)
    try:
        return int(text or b"0")
    except ValueError:
        raise CliError(
            f"{path} is damaged; delete it to accept the server's current grant",
            STATE,
            "state_auth",
        ) from None


def _raise_floor(path: str, revision: int) -> None:
    """Best effort: a runner on a read-only disk still works, without replay protection."""
    from native.fsutil import atomic_write, private_dir

    try:
        private_dir(os.path.dirname(path))
        atomic_write(path, str(revision).encode())
    except OSError:
        pass


def request(op: str, **fields: Any) -> dict[str, Any]:
    """Answer a consumer request from this runner's grant (no agent involved)."""
    from native import answers

    if op == "lock":
        raise CliError(
            "a runner holds nothing between calls; there is nothing to lock", USAGE, "usage"
        )
    from native import credential_pipe

    cred = RunnerCredential.decode(credential_pipe.credential())
    source = _fetch_grant(cred)
    try:
        if op == "status":
            return {
                "ok": True,
                "runner_id": cred.runner_id,
                "server": cred.server,
                "revision": source.revision,
                "items": len(source.items()),
            }
        return answers.answer(source, op, fields)
    finally:
        source.lock()


def cmd_enroll(args: argparse.Namespace) -> int:
    from native.pairing import pair
    from vault_core import RunnerKeyPair

    url = server_url(args.server)
    keypair = RunnerKeyPair.generate()
    try:
        approved = pair(
            Api(url), "runner", args.name or socket.gethostname(), keypair.public_key, args.timeout
        )
        owner = approved.get("grant_public_key")
        cred = RunnerCredential(
            url,
            str(approved["runner_credential"]),
            str(approved["client_id"]),
            str(approved["account_id"]),
            keypair.seed_bytes(),
            b64url_decode(owner) if owner else None,
        )
    finally:
        keypair.wipe()
    print(
        f"Runner {args.name!r} approved. Store the line below as the CI secret {ENV};\n"
        "it is shown once and is all the runner needs (treat it like a password):",
        file=sys.stderr,
    )
    print(cred.encode())
    if cred.owner_key is None:
        print(
            "zkvault: warning: the approval did not pin the owner's grant key; the runner "
            "will trust the key the server sends",
            file=sys.stderr,
        )
    return 0
