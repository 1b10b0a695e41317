"""Runners: enrol once with browser approval, then work unattended from one string.

The credential string (taken at process start by native.runner_identity) is ``zkvr1.`` followed by
base64url JSON: server URL, the server's runner credential, runner and
account ids, the runner's X25519 key seed, and the owner's grant-verify key
pinned at enrolment after the person confirmed its fingerprint (on a terminal, or
with --owner-fingerprint). Only that pinned key ever verifies a grant: the key the
server offers later is never used. Each call exchanges the credential for an access token
(proving the runner's DPoP key, derived from the X25519 seed: native/dpop.py),
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
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from native.api import Api, ApiError, b64url_decode, b64url_encode, server_url
from native.dpop import DpopKey
from native.errors import NOT_FOUND, REVOKED, STATE, USAGE, CliError

if TYPE_CHECKING:
    from native.runner_identity import RunnerIdentity
    from native.team_grants import RunnerTeams

PREFIX = "zkvr1."
_VERIFY_TRIES = 3  # fresh access tokens tried before "cannot verify right now"


class RunnerCredential:
    def __init__(
        self,
        server: str,
        credential: str,
        runner_id: str,
        account_id: str,
        seed: bytes,
        owner_key: bytes,
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
            "o": b64url_encode(self.owner_key),
        }
        return PREFIX + b64url_encode(json.dumps(body, separators=(",", ":")).encode())

    @classmethod
    def decode(cls, text: str) -> RunnerCredential:
        bad = CliError(
            "the runner credential given is not a zkvault runner credential; copy it again "
            "from `zkvault runner enroll`",
            USAGE,
            "bad_credential",
        )
        text = text.strip()
        if not text.startswith(PREFIX):
            raise bad
        try:
            body = json.loads(b64url_decode(text[len(PREFIX) :]))
            owner = b64url_decode(body["o"]) if body.get("o") else b""
            cred = cls(
                str(body["s"]),
                str(body["c"]),
                str(uuid.UUID(body["r"])),
                str(uuid.UUID(body["a"])),
                b64url_decode(body["k"]),
                owner,
            )
        except (ValueError, KeyError, TypeError):
            raise bad from None
        if len(cred.owner_key) != 32:
            raise CliError(
                "the runner credential pins no owner grant key (enrolled by an older zkvault); a "
                "runner never "
                "takes that key from the server: enrol it again with `zkvault runner enroll`",
                STATE,
                "owner_key_unpinned",
            )
        return cred

    @property
    def owner_fingerprint(self) -> str:
        from vault_core import fingerprint

        return fingerprint("owner-grant", self.owner_key)


class GrantSource:
    """The granted items, shaped like a vault for the agent's request handling."""

    granted_only = True  # a name not here may still be in the vault (native.answers)

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
            raise CliError(
                "no such item in this runner's grant", NOT_FOUND, "not_granted"
            ) from None

    def lock(self) -> None:
        self._items.clear()


class AccessTokens:
    """One access token reused while it lasts, by a process that answers many requests
    (`zkvault ssh`'s proxy): its builder's requests then spend no token exchange, which
    the server rate-limits per address, so they cannot use up the CI job's own. The
    grant itself is still fetched per request, so a revocation refuses the next one."""

    _MARGIN = 60.0  # seconds before its expiry that a token is no longer offered

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._until = 0.0

    def get(self) -> str | None:
        with self._lock:
            return self._token if time.monotonic() < self._until else None

    def put(self, token: str, expires_in: float) -> None:
        with self._lock:
            self._token, self._until = token, time.monotonic() + expires_in - self._MARGIN

    def drop(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None


class _NoGrant:
    """No personal grant: its source is empty (team grants may still answer)."""

    revision = 0
    items: tuple[Any, ...] = ()


def _refused(exc: ApiError) -> CliError:
    if exc.code == "no_grant":
        return CliError(
            "no items are granted to this runner yet; grant some in the web app",
            NOT_FOUND,
            "no_grant",
        )
    return CliError(
        f"the server refused the request ({exc.status} {exc.code})",
        REVOKED if exc.status == 403 else NOT_FOUND,
        exc.code,
    )


def _fetch_grant(
    cred: RunnerCredential, tokens: AccessTokens | None = None
) -> tuple[GrantSource, RunnerTeams, CliError | None]:
    """This runner's personal grant, opened (empty when it has none: then the error that
    says so comes third), and its team grants, opened on first use (native.team_grants)."""
    from native.team_grants import RunnerTeams

    api = Api(cred.server, DpopKey.for_runner(cred.seed))  # the key derives from the seed
    tokens = tokens or AccessTokens()

    def get(path: str) -> Any:
        try:
            return _runner_get(api, cred, tokens, path)
        except ApiError as exc:
            raise _refused(exc) from None

    teams = RunnerTeams(cred, get)
    try:
        grant = get("/api/runner/grant")
    except CliError as exc:
        if exc.code != "no_grant":
            raise
        return GrantSource(_NoGrant()), teams, exc
    return _open_personal(cred, grant), teams, None


def _open_personal(cred: RunnerCredential, grant: dict[str, Any]) -> GrantSource:
    from native.vaulterrors import translate
    from vault_core import RunnerKeyPair, errors, open_grant

    # The pinned key only; whatever the server's answer names is ignored.
    owner_key = cred.owner_key
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
    except errors.GrantAuthError:
        raise CliError(
            "this runner's grant failed verification: it is not sealed to this runner or not "
            f"signed by the owner grant key pinned at enrolment ({cred.owner_fingerprint}); "
            "refusing it",
            STATE,
            "grant_auth",
        ) from None
    except errors.VaultError as exc:
        raise translate(exc) from None
    finally:
        keypair.wipe()
    if opened.revision > floor:
        _raise_floor(floor_path, opened.revision)
    return GrantSource(opened)


def _runner_get(api: Api, cred: RunnerCredential, tokens: AccessTokens, path: str) -> Any:
    """The server's answer to this runner's GET of ``path`` (its grant, its team grants, a
    team's log).

    Only a definite answer means "revoked": the server refusing the credential itself (it
    is looked up in the database, not verified with a signing key) or an error coded
    ``revoked``. An access token refused otherwise was minted by an instance whose key
    the answering one cannot verify yet (a rotation in flight, a clock ahead): mint a new
    one and ask again, a few times, then say so without calling the runner revoked.
    """
    from native.machine_tokens import cannot_verify

    attempt = 0
    while attempt < _VERIFY_TRIES:
        access = tokens.get()
        fresh = access is None
        if access is None:
            try:
                token = api.call(
                    "POST",
                    "/auth/token",
                    {"grant_type": "runner_credential", "credential": cred.credential},
                )
            except ApiError as exc:
                if exc.code == "unbound_client":
                    raise CliError(
                        "this runner was enrolled before zkvault proved keys on every request;"
                        " enrol it again (`zkvault runner enroll`)",
                        REVOKED,
                        "unbound_client",
                    ) from None
                if exc.status == 401 and exc.code.startswith("dpop_"):
                    raise cannot_verify() from None  # the proof (a clock off?), not the runner
                if exc.status == 401:
                    raise revoked_runner() from None
                raise
            access = str(token["access_token"])
            tokens.put(access, float(token.get("expires_in") or 0))
        try:
            return api.call("GET", path, token=access)
        except ApiError as exc:
            if exc.status != 401:
                raise
            if exc.code == "revoked":
                raise revoked_runner() from None
        tokens.drop(access)
        if fresh:  # refused right after the exchange: give the instances a moment
            time.sleep(0.5 * (attempt + 1))
            attempt += 1
    raise cannot_verify()


def revoked_runner() -> CliError:
    return CliError(
        "this runner is not authorised (revoked, or a wrong credential); enrol it again",
        REVOKED,
        "revoked",
    )


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


def request(
    identity: RunnerIdentity,
    op: str,
    fields: dict[str, Any],
    tokens: AccessTokens | None = None,
) -> dict[str, Any]:
    """Answer a consumer request from this runner's grants (no agent involved): its
    personal grant first, then its team grants (native.team_grants)."""
    from native import team_grants

    if op == "lock":
        raise CliError(
            "a runner holds nothing between calls; there is nothing to lock", USAGE, "usage"
        )
    cred = identity.credential
    source, teams, none = _fetch_grant(cred, tokens)
    try:
        if none is not None and not teams.sources():
            raise teams.first_trouble() or none  # nothing granted, or nothing that opens
        if op == "status":
            return {
                "ok": True,
                "runner_id": cred.runner_id,
                "server": cred.server,
                "revision": source.revision,
                "items": len(source.items()),
                "teams": [name for name, _ in teams.sources()],
                "owner_fingerprint": cred.owner_fingerprint,
                "warnings": list(identity.warnings),
            }
        return team_grants.answer(source, teams, op, fields)
    finally:
        source.lock()
        teams.lock()


def run_material(
    identity: RunnerIdentity, names: list[str] | None
) -> tuple[dict[str, str], list[tuple[Any, Any]]]:
    """For `zkvault run`, from one opened grant: the values of ``names`` (None: every item of
    the personal grant but ssh keys; a name it lacks is looked for in the team grants) and
    the personal grant's ssh-key items as (id, item), which its child gets through a private
    SSH agent socket (native.sshagent.private), never as values."""
    from native import team_grants
    from vault_core.items import SSH_KEY

    source, teams, none = _fetch_grant(identity.credential)
    try:
        if none is not None and not teams.sources():
            raise teams.first_trouble() or none
        values: dict[str, str] = {}
        if names is None or names:
            values = team_grants.answer(source, teams, "env", {"names": names})["values"]
        keys = [(info.id, source.get(info.id)) for info in source.items() if info.kind == SSH_KEY]
        return values, keys
    finally:
        source.lock()
        teams.lock()


def _expected_owner(args: argparse.Namespace) -> str | None:
    """The owner fingerprint given on the command line (normalised), or None when the
    person will confirm it on this terminal; without either, refuse before pairing."""
    from vault_core.errors import PinError
    from vault_core.pins import normalise_fingerprint

    if args.owner_fingerprint:
        try:
            return normalise_fingerprint(args.owner_fingerprint)
        except PinError:
            raise CliError(
                "--owner-fingerprint is not a fingerprint (six groups of four letters or "
                "digits, as the web app shows it)",
                USAGE,
                "bad_fingerprint",
            ) from None
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise CliError(
            "no terminal to confirm the owner's grant key on: pass --owner-fingerprint with "
            "the fingerprint the web app shows under Machines & runners",
            USAGE,
            "owner_fingerprint_required",
        )
    return None


def _pin_owner(approved: dict[str, Any], expected: str | None) -> bytes:
    """The owner grant key from the approval, pinned only once the person confirmed it."""
    from vault_core import fingerprint

    key = b64url_decode(str(approved.get("grant_public_key") or ""))
    if len(key) != 32:
        raise CliError(
            "the server approved this runner without the owner's grant key; refusing to enrol "
            "(revoke the runner in the web app and enrol it again)",
            STATE,
            "owner_key_missing",
        )
    offered = fingerprint("owner-grant", key)
    if expected is not None:
        if offered != expected:
            raise CliError(
                f"the owner grant key the server handed over has fingerprint {offered}, not "
                f"{expected}; refusing to enrol (the server may be lying; revoke this runner "
                "in the web app)",
                STATE,
                "owner_key_mismatch",
            )
        return key
    print(
        f"The owner's grant key has fingerprint {offered}.\n"
        "Compare it with “Your grant key” in the web app (Machines & runners).",
        file=sys.stderr,
    )
    print("Is it the same? Type yes to pin it: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer != "yes":
        raise CliError(
            "the owner's grant key was not confirmed; nothing was pinned (revoke this runner "
            "in the web app and enrol again)",
            STATE,
            "owner_key_unconfirmed",
        )
    return key


def cmd_enroll(args: argparse.Namespace) -> int:
    from native.pairing import pair
    from vault_core import RunnerKeyPair, fingerprint

    url = server_url(args.server)
    expected = _expected_owner(args)
    keypair = RunnerKeyPair.generate()
    try:
        api = Api(url, DpopKey.for_runner(keypair.seed_bytes()))
        approved = pair(
            api, "runner", args.name or socket.gethostname(), keypair.public_key, args.timeout
        )
        cred = RunnerCredential(
            url,
            str(approved["runner_credential"]),
            str(approved["client_id"]),
            str(approved["account_id"]),
            keypair.seed_bytes(),
            _pin_owner(approved, expected),
        )
    finally:
        keypair.wipe()
    name = str(approved.get("name") or args.name)
    owner = fingerprint("owner-grant", cred.owner_key)
    if getattr(args, "json", False):
        import json

        answer = {
            "ok": True,
            "name": name,
            "runner_id": str(approved["client_id"]),
            "server": url,
            "owner_fingerprint": owner,
            "credential": cred.encode(),  # what the command is for: store it as a CI secret
        }
        print(json.dumps(answer, separators=(",", ":")))
        return 0
    print(
        f"Runner {name!r} approved; pinned the owner's grant key "
        f"{owner}.\n"
        "Store the line below as a CI secret (give it to zkvault as a 0600 file with\n"
        "--credential-file: docs/cli.md, Runners);\n"
        "it is shown once and is all the runner needs (treat it like a password):",
        file=sys.stderr,
    )
    print(cred.encode())
    return 0
