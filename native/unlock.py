"""``zkvault unlock`` and ``zkvault import``: open the local vault and start the agent."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from native import candidate, client, paths, settings
from native.errors import AUTH, STATE, USAGE, CliError
from native.settings import parse_duration as parse_duration  # where callers first found it
from native.state import LocalState, StateStore, new_device_id

if TYPE_CHECKING:
    from vault_core import Vault
    from vault_core.lineage import Device

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
    if _agent_still_serving(args):
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

    try:
        fetched = sync.fetch_vault(store, state, strict=strict)
    except CliError as exc:
        if exc.code in sync.FORK_CODES:  # an older format, seen in the public header
            sync.record_fork(store, exc, None, "unlock")
        raise
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
    device = _device(store, state)
    memory = state.memory()
    passphrase = read_passphrase(args.passphrase_stdin)

    from native.agent import Agent, start
    from native.vaulterrors import translate
    from vault_core import Vault, errors, peek_header

    try:
        vault = Vault.open(
            blob,
            passphrase,
            account_id=uuid.UUID(state.account_id),
            vault_id=uuid.UUID(state.vault_id) if state.vault_id else None,
            min_revision=state.max_revision,
            memory=memory,
            device=device,
        )
    except errors.VaultError as exc:
        error = translate(exc)
        if error.code in sync.FORK_CODES:
            sync.record_fork(store, error, peek_header(blob).revision, "unlock")
        raise error from None
    del passphrase
    try:
        if memory is None and state.seen_before:
            vault.confirm_current()  # it accepted this vault before it kept a memory
        elif vault.needs_confirmation:
            _ask_confirmation(vault, args, new=memory is None)
        sync.remember(store, blob, vault, fetched.from_server)
        from native.write import Writer

        writer = Writer(session, blob) if session else None  # `zkvault add` and friends
        teams, warnings = None, []
        if writer is not None:
            from native.identity_publish import ensure_published
            from native.teams import Teams

            warnings = ensure_published(vault, writer)
            for warning in warnings:
                print(f"zkvault: {warning}", file=sys.stderr)
            teams = Teams(vault, writer.call, _saver(writer, vault), store)
        agent = Agent(
            vault,
            idle_timeout=idle,
            max_lifetime=lifetime,
            watch=session.watch if session else None,
            retry_max=session.interval if session else 30.0,
            adopt=writer.adopt if writer else None,
            forked=session.forked if session else None,
            info={"server": state.server, "strict": strict, "vault_id": str(vault.vault_id)},
            write=writer.write if writer else None,
            saved=writer.saved if writer else None,
            teams=teams,
        )
        agent.warnings += warnings
        pid = start(agent)
        count = len(vault.items())
        revision = vault.revision
        confirmed = not vault.needs_confirmation
    finally:
        vault.lock()  # our copy; the agent keeps its own
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "ok": True,
                    "revision": revision,
                    "items": count,
                    "pid": pid,
                    "confirmed": confirmed,
                },
                separators=(",", ":"),
            )
        )
    else:
        print(
            f"unlocked: revision {revision}, {count} items; agent pid {pid} locks after "
            f"{int(idle)}s idle or {int(lifetime)}s in all"
        )
    return 0


def _saver(writer: Any, vault: Vault) -> Callable[[Callable[[Any], None]], None]:
    def save(change: Callable[[Any], None]) -> None:
        writer.save_change(vault, change)

    return save


def _agent_still_serving(args: argparse.Namespace) -> bool:
    """True (and says so) when an agent already serves. One that stopped at a fork is
    locked here: this unlock checks the server's vault against this machine's memory
    again, and starts a new agent only if it descends from it."""
    try:
        status = client.request("status", timeout=2.0)
    except CliError:
        return False
    if not status.get("fork"):
        if args.json:
            print('{"ok":true,"already":true}')
        elif args.confirm:
            print("already unlocked; `zkvault lock`, then `zkvault unlock --confirm`")
        else:
            print("already unlocked; `zkvault lock` first to unlock again")
        return True
    with contextlib.suppress(CliError):
        client.request("lock")
    deadline = time.monotonic() + 5.0
    while os.path.exists(paths.socket_path()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return False


def _device(store: StateStore, state: LocalState) -> Device:
    """This machine as a writer of the vault: a random id made once and kept."""
    if state.device_id is None:
        with store.update() as kept:
            kept.device_id = kept.device_id or new_device_id()
        state.device_id = kept.device_id
    return state.device()


def last_save(vault: Vault) -> str:
    """ "last saved <time UTC> by <device>", or why a format-1 vault cannot say."""
    lineage = vault.lineage
    if lineage is None:
        return f"revision {vault.revision}, in format 1, which records no save time or device"
    when = lineage.saved_at.replace("T", " ").removesuffix("Z")
    return f"last saved {when} UTC by {lineage.saved_by.name}"


def _ask_confirmation(vault: Vault, args: argparse.Namespace, *, new: bool) -> None:
    """A machine new to this vault (or that has not confirmed it yet): show its last save;
    confirm it on --confirm or a y on a terminal (docs/cli.md, "A machine new to the
    vault")."""
    news = "has not seen this vault before" if new else "has not confirmed this vault yet"
    print(f"This machine {news}: {last_save(vault)}.", file=sys.stderr)
    if args.confirm:
        vault.confirm_current()
        print("Confirmed as your current vault.", file=sys.stderr)
        return
    if not args.passphrase_stdin and not args.json and sys.stdin.isatty():
        try:
            answer = input("Is that your latest save? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() in ("y", "yes"):
            vault.confirm_current()
            print("Confirmed as your current vault.", file=sys.stderr)
            return
    print(
        "Not confirmed: compare it with a device you trust, then `zkvault lock` and "
        "`zkvault unlock --confirm` (`zkvault status` shows it).",
        file=sys.stderr,
    )


def cmd_adopt(args: argparse.Namespace) -> int:
    """Adopt a vault file (e.g. exported from the web app) as the local copy: `zkvault
    adopt`, once `zkvault import FILE --account-id` (kept as an alias for one release)."""
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
            max_revision=state.revision_floor,
            min_format=state.format_floor,
        )
        state.account_id, state.vault_id = str(account), str(header.vault_id)
        state.vault_blob = blob
        state.max_revision = max(state.max_revision, header.revision)
        store.save(state)
    if args.json:
        import json

        print(json.dumps({"ok": True, "revision": header.revision}, separators=(",", ":")))
    else:
        print(f"adopted vault revision {header.revision}")
    return 0
