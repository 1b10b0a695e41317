"""``zkvault unlock`` and ``zkvault import``: open the local vault and start the agent."""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid

from native import candidate, client, settings
from native.errors import AUTH, STATE, USAGE, CliError
from native.settings import parse_duration as parse_duration  # where callers first found it
from native.state import LocalState, StateStore

DEFAULT_IDLE = 3600.0
DEFAULT_LIFETIME = 8 * 3600.0


def read_passphrase(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        passphrase = line[:-1] if line.endswith("\n") else line
    else:
        if not sys.stdin.isatty():
            raise CliError(
                "no terminal to ask for the passphrase; use --passphrase-stdin", USAGE, "usage"
            )
        passphrase = getpass.getpass("zkvault passphrase: ")
    if not passphrase:
        raise CliError("empty passphrase", AUTH, "wrong_passphrase")
    return passphrase


def cmd_unlock(args: argparse.Namespace) -> int:
    if client.agent_running():
        print(
            '{"ok":true,"already":true}'
            if args.json
            else "already unlocked; `zkvault lock` first to unlock again"
        )
        return 0
    idle = settings.duration(
        args.idle_timeout, "ZKVAULT_IDLE_TIMEOUT", DEFAULT_IDLE, "--idle-timeout"
    )
    lifetime = settings.duration(
        args.max_lifetime, "ZKVAULT_MAX_LIFETIME", DEFAULT_LIFETIME, "--max-lifetime"
    )
    strict = settings.switch(args.strict, "ZKVAULT_STRICT")
    store = StateStore()
    state = store.load()

    from native import sync

    fetched = sync.fetch_vault(store, state, strict=strict)
    session, blob = fetched.session, fetched.blob
    if blob is None or state.account_id is None:
        if state.server:
            raise CliError(
                "your account has no vault yet; create it in the web app, then run "
                "`zkvault unlock` again",
                STATE,
                "no_vault",
            )
        raise CliError(
            "no vault stored on this machine yet; run `zkvault connect`", STATE, "no_vault"
        )
    passphrase = read_passphrase(args.passphrase_stdin)

    from native.agent import Agent, start
    from native.vaulterrors import translate
    from vault_core import Vault, errors

    try:
        vault = Vault.open(
            blob,
            passphrase,
            account_id=uuid.UUID(state.account_id),
            vault_id=uuid.UUID(state.vault_id) if state.vault_id else None,
            min_revision=state.max_revision,
        )
    except errors.VaultError as exc:
        raise translate(exc) from None
    del passphrase
    try:
        sync.remember(store, blob, vault.revision, str(vault.vault_id), fetched.from_server)
        agent = Agent(
            vault,
            idle_timeout=idle,
            max_lifetime=lifetime,
            watch=session.watch if session else None,
            retry_max=session.interval if session else 30.0,
            adopt=session.adopt if session else None,
            info={"server": state.server, "strict": strict, "vault_id": str(vault.vault_id)},
        )
        pid = start(agent)
        count = len(vault.items())
        revision = vault.revision
    finally:
        vault.lock()  # our copy; the agent keeps its own
    if args.json:
        import json

        print(
            json.dumps(
                {"ok": True, "revision": revision, "items": count, "pid": pid},
                separators=(",", ":"),
            )
        )
    else:
        print(
            f"unlocked: revision {revision}, {count} items; agent pid {pid} locks after "
            f"{int(idle)}s idle or {int(lifetime)}s in all"
        )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Adopt a vault file (e.g. exported from the web app) as the local copy."""
    try:
        account = uuid.UUID(args.account_id)
    except ValueError:
        raise CliError("--account-id must be a UUID", USAGE, "usage") from None
    try:
        with open(args.file, "rb") as f:
            blob = f.read(64 * 1024 * 1024)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}", USAGE, "usage") from None
    candidate.check(blob, "that vault file", account_id=account, vault_id=None, max_revision=0)
    store = StateStore()
    with store.locked():
        state = store.load() if store.exists() else LocalState()
        header = candidate.check(
            blob,
            "that vault file",
            account_id=state.account_id,
            vault_id=state.vault_id,
            max_revision=state.max_revision,
        )
        state.account_id, state.vault_id = str(account), str(header.vault_id)
        state.vault_blob = blob
        state.max_revision = max(state.max_revision, header.revision)
        store.save(state)
    print(f"imported vault revision {header.revision}")
    return 0
