"""The vault session inside the web worker: the only place the vault's keys and plaintext live.

The worker's JS calls ``dispatch(op, args_json)`` and gets JSON back; the page never sees
a key, and sees a secret only through ``reveal`` (when the person asks to see or copy
it). Network is the page's job: it hands ciphertext in and takes ciphertext out.

Saving is optimistic: an edit is applied, serialised as the next revision, and kept as
a pending operation until the page reports the server accepted it (``committed``). If
the server refused it as stale (409) the page fetches the newer vault and calls
``rebase``: the newer vault is opened and the pending operations are replayed on it, so
a concurrent edit from another device and the local edit both survive.

After unlock the session keeps the vault's keys (inside the Vault), never the passphrase:
a passphrase change keeps the key slot it wrapped, an earlier revision is opened with the
vault key, and "change passphrase" checks the current passphrase against the slot.

Fork evidence (docs/web.md, "Forks, fresh browsers and revocations"): the page hands in
this browser profile's device id and name and what it remembers of the vault (a
``VaultMemory``, no secret); every answer that may have changed that memory carries it
back as ``memory``, and the page stores it before doing anything else with the answer (an
upload's pending write is remembered before it is sent). A profile that has not seen the
vault before seals nothing until the person confirms the last save (``needs_confirmation``).

Errors come back as ``{"ok": false, "code", "message"}`` with fixed, secret-free text.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from vault_core import (
    SSH_KEY,
    Item,
    KdfParams,
    KeySlot,
    RunnerGrants,
    RunnerPins,
    Vault,
    errors,
    fingerprint,
    normalise_fingerprint,
    seal_grant,
    time_kdf,
)
from vault_core.audit_chain import AuditAnchor, verify_export
from vault_core.b64url import b64url_decode as b64d
from vault_core.b64url import b64url_encode as b64e
from vault_core.errors import GrantListError, PinError
from vault_core.lineage import Device, VaultMemory
from vault_core.token_formats import format_of, kind_warning

from . import ssh_items
from .session_error import SessionError
from .strength import estimate

# What each vault error means to a person: vault_core's one table (errors.summary).
MESSAGES = errors.MESSAGES


@dataclass(frozen=True)
class Op:
    kind: str  # add | update | remove | passphrase | grants | pin | rename | revoke | change
    item_id: str = ""
    item: Item | None = None
    slot: KeySlot | None = None  # the vault key rewrapped under the new passphrase
    grants: tuple[uuid.UUID, tuple[uuid.UUID, ...]] | None = None  # runner id, item ids
    pin: tuple[str, bytes, str] | None = None  # runner id, X25519 key, name
    rename: tuple[str, str] | None = None  # runner id, the pin's new name
    revoke: tuple[str, uuid.UUID, bytes, str] | None = None  # kind, id, key, name
    change: Callable[[Vault], object] | None = None  # any other edit (teams' identity, contacts)


def _item_from(fields: dict[str, Any], secret: str, *, generate: bool = False) -> Item:
    """The item the form describes. For an ``ssh-key``: a pasted private key in its
    canonical text, or with ``generate`` a new Ed25519 key made here (never the page)."""
    scopes = fields.get("scopes") or []
    if isinstance(scopes, str):
        scopes = [s for s in scopes.replace(",", " ").split() if s]
    kind = str(fields.get("kind", "generic"))
    if generate and kind != SSH_KEY:
        raise SessionError("bad_request", "Only an SSH key can be generated.")
    if generate:
        secret = ssh_items.generated()
    elif kind == SSH_KEY:
        secret = ssh_items.stored_secret(secret)
    try:
        return Item(
            name=str(fields.get("name", "")).strip(),
            kind=kind,
            url=str(fields.get("url", "")).strip(),
            secret=secret,
            username=str(fields.get("username", "")).strip(),
            scopes=tuple(str(s) for s in scopes),
            expires=fields.get("expires") or None,
            note=str(fields.get("note", "")),
        )
    except errors.VaultError as exc:
        raise SessionError("invalid_item", str(exc)) from None


class Session:
    def __init__(self) -> None:
        self.vault: Vault | None = None
        self.account_id: uuid.UUID | None = None
        self.seen_revision = 0  # rollback floor, for this page's lifetime
        self.pending: list[Op] = []
        self.kdf_ms = 0.0
        self.device: Device | None = None  # this browser profile, as the page keeps it
        self.remembered: VaultMemory | None = None  # what it remembers of the vault

    # -- helpers -----------------------------------------------------------------------------

    def _vault(self) -> Vault:
        if self.vault is None or self.vault.locked:
            raise SessionError("locked", MESSAGES["locked"])
        return self.vault

    def _open(self, blob: bytes, passphrase: str, memory: VaultMemory | None) -> Vault:
        assert self.account_id is not None
        started = time.perf_counter()
        try:
            vault = Vault.open(
                blob,
                passphrase,
                account_id=self.account_id,
                min_revision=self.seen_revision,
                upgrade_kdf=KdfParams.default(),
                memory=memory,
                device=self.device,
            )
        finally:
            self.kdf_ms = (time.perf_counter() - started) * 1000
        self.seen_revision = max(self.seen_revision, vault.revision)
        return vault

    def _listing(self, vault: Vault) -> dict[str, Any]:
        """Items, grants and pins; a damaged bookkeeping record is reported in
        ``damaged`` (code and message) and listed as empty, so the items still show."""
        damaged: list[dict[str, str]] = []
        grants: dict[str, list[str]] = {}
        pins: dict[str, str] = {}
        names: dict[str, str] = {}
        try:
            grants = vault.runner_grants().to_dict()
        except GrantListError as exc:
            damaged.append({"code": exc.code, "message": errors.describe(exc)})
        try:
            pinned = vault.runner_pins().runners
            pins = {str(rid): pin.fingerprint for rid, pin in pinned.items()}
            names = {str(rid): pin.name for rid, pin in pinned.items()}
        except PinError as exc:
            damaged.append({"code": exc.code, "message": errors.describe(exc)})
        revoked: dict[str, dict[str, str]] = {}
        try:
            for rid, entry in vault.revocations().devices.items():
                revoked[str(rid)] = {
                    "kind": entry.kind,
                    "name": entry.name,
                    "at": entry.at,
                    "fingerprint": _fingerprint_or_blank(entry.kind, entry.key),
                }
        except PinError as exc:
            damaged.append({"code": exc.code, "message": errors.describe(exc)})
        lineage = vault.lineage
        return {
            "revision": vault.revision,
            "items": [i.to_dict() for i in vault.items()],
            "revoked": revoked,  # runners and machines revoked, as the vault records them
            # Fork evidence: what the page stores, and what a fresh profile asks about.
            "memory": None if vault.memory is None else vault.memory.to_json(),
            "needs_confirmation": vault.needs_confirmation,
            "last_save": None
            if lineage is None
            else {"at": lineage.saved_at, "by": lineage.saved_by.name},
            "grants": grants,
            "pins": pins,
            "pin_names": names,  # the names approved (or renamed) by the owner, not listed
            "damaged": damaged,
            "owner_fingerprint": fingerprint("owner-grant", vault.owner_verify_key),
            "kdf_ms": round(self.kdf_ms, 1),
            "kdf": {"ops": vault.kdf.ops, "mem_kib": vault.kdf.mem_kib},
        }

    def _apply(self, vault: Vault, op: Op, notes: list[str], *, merging: bool = False) -> None:
        if op.kind == "add":
            assert op.item is not None
            item = op.item
            taken = {i.name for i in vault.items()}
            n = 2
            while merging and item.name in taken:
                item, n = replace(op.item, name=f"{op.item.name} ({n})"), n + 1
            if item is not op.item:
                notes.append(
                    f"“{op.item.name}” also exists on the server; yours is kept as “{item.name}”."
                )
            vault.add(item)
        elif op.kind == "update":
            assert op.item is not None
            item_id = uuid.UUID(hex=op.item_id)
            if any(i.id == item_id for i in vault.items()):
                vault.update(item_id, op.item)
            else:
                notes.append(f"“{op.item.name}” was removed elsewhere; your edit re-adds it.")
                self._apply(vault, Op("add", item=op.item), notes, merging=merging)
        elif op.kind == "remove":
            item_id = uuid.UUID(hex=op.item_id)
            if any(i.id == item_id for i in vault.items()):
                vault.remove(item_id)
        elif op.kind == "passphrase":
            assert op.slot is not None
            vault.use_key_slot(op.slot)
        elif op.kind == "grants":
            assert op.grants is not None
            grants = _or_fresh(vault.runner_grants, RunnerGrants, GrantListError)
            grants.set(*op.grants)
            vault.set_runner_grants(grants)
        elif op.kind == "pin":
            assert op.pin is not None
            vault.check_sealable(uuid.UUID(op.pin[0]), op.pin[1])  # replayed: checked again
            pins = _or_fresh(vault.runner_pins, RunnerPins, PinError)
            pins.pin(*op.pin)
            vault.set_runner_pins(pins)
        elif op.kind == "revoke":
            assert op.revoke is not None
            kind, device_id, key, name = op.revoke
            vault.revoke(kind, device_id, key, name)
        elif op.kind == "change":
            assert op.change is not None
            op.change(vault)
        elif op.kind == "rename":
            assert op.rename is not None
            pins = vault.runner_pins()
            pins.rename(*op.rename)
            vault.set_runner_pins(pins)

    def _edit(self, op: Op) -> dict[str, Any]:
        vault = self._vault()
        self._apply(vault, op, [])
        self.pending.append(op)
        return {**_upload(vault), **self._listing(vault)}

    # -- operations --------------------------------------------------------------------------

    def op_strength(self, passphrase: str) -> dict[str, Any]:
        return estimate(passphrase).to_dict()

    def op_classify_token(self, kind: str, secret: str) -> dict[str, Any]:
        """What the add/edit form shows while a token is typed or pasted: the kind its
        published format belongs to (docs/tokens.md), what it is, and a warning when the
        chosen kind disagrees. The page never parses a secret; nothing here echoes it."""
        if not isinstance(kind, str) or not isinstance(secret, str):
            raise SessionError("bad_request", "A kind and a token are needed.")
        fmt = format_of(secret[:4096])
        return {
            "kind": fmt.kind if fmt is not None else None,
            "label": fmt.label if fmt is not None else None,
            "warning": kind_warning(kind, secret[:4096]) if fmt is not None else None,
        }

    def op_create(
        self,
        account_id: str,
        passphrase: str,
        confirm: str,
        device: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if passphrase != confirm:
            raise SessionError("mismatch", "The two passphrases differ.")
        verdict = estimate(passphrase)
        if not verdict.acceptable:
            raise SessionError("weak_passphrase", verdict.reason or "Too weak.")
        self.account_id = uuid.UUID(account_id)
        if device is not None:
            self.device = _device(device)
        started = time.perf_counter()
        vault = Vault.create(self.account_id, passphrase, device=self.device)
        self.kdf_ms = (time.perf_counter() - started) * 1000
        self.vault, self.pending = vault, []
        return {**_upload(vault), **self._listing(vault)}

    def op_identify(
        self,
        device: dict[str, str],
        memory: dict[str, Any] | None = None,
        min_revision: int = 0,
    ) -> dict[str, Any]:
        """This browser profile (its device id and name) and what it remembers of the
        account's vault (None: never seen it; ``min_revision``, the rollback floor an older
        page kept, still applies until a memory is made). Sent before unlocking."""
        self.device = _device(device)
        self.remembered = _memory(memory)
        self.seen_revision = max(self.seen_revision, int(min_revision))
        return {"device": device}

    def op_unlock(
        self,
        account_id: str,
        blob: str,
        passphrase: str,
        min_revision: int = 0,
        memory: dict[str, Any] | None = None,
        device: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Open the vault and check it descends from what this profile remembers of it
        (``memory`` if given, else what ``identify`` said)."""
        self.account_id = uuid.UUID(account_id)
        if device is not None:
            self.device = _device(device)
        self.seen_revision = max(self.seen_revision, min_revision)
        remembered = self.remembered if memory is None else _memory(memory)
        self.vault = self._open(b64d(blob), passphrase, remembered)
        self.pending = []
        return self._listing(self.vault)

    def op_confirm(self) -> dict[str, Any]:
        """The person checked the last save (time, device) and says it is their current
        vault: this profile may seal from now on."""
        vault = self._vault()
        vault.confirm_current()
        return self._listing(vault)

    def op_check_sealable(self, device_id: str, public_key: str) -> dict[str, Any]:
        """Before approving a machine (its pairing seals to its key): ``unconfirmed`` on a
        profile that has not confirmed the vault, ``key_revoked`` for a revoked id or key."""
        try:
            key = b64d(public_key)
            device = uuid.UUID(device_id)
        except (ValueError, TypeError, AttributeError):
            message = "The server sent something that is not a key or not a device id."
            raise SessionError("bad_key", message) from None
        self._vault().check_sealable(device, key)
        return {"sealable": True}

    def op_revoke(self, kind: str, device_id: str, public_key: str, name: str) -> dict[str, Any]:
        """Record in the vault that a runner or machine is revoked, and save: from then on
        nothing is pinned, approved or sealed to its id or key. A runner's key is the one
        pinned at approval (``public_key``, the server's, only where none is pinned); a
        machine's the one the page was shown."""
        vault = self._vault()
        if kind not in ("runner", "machine"):
            raise SessionError("bad_key", "Unknown kind of device.")
        try:
            device = uuid.UUID(device_id)
        except (ValueError, TypeError, AttributeError):
            raise SessionError("bad_key", "The server sent something that is not an id.") from None
        key: bytes | None = None
        if kind == "runner":
            pin = _or_fresh(vault.runner_pins, RunnerPins, PinError).runners.get(device)
            key = None if pin is None else pin.key
        if key is None:
            try:
                key = b64d(public_key)
                fingerprint(kind, key)
            except (ValueError, PinError):
                message = "The server sent something that is not a key: nothing was recorded."
                raise SessionError("bad_key", message) from None
        return self._edit(Op("revoke", revoke=(kind, device, key, _name(name, kind))))

    def op_lock(self) -> dict[str, Any]:
        if self.vault is not None:
            self.vault.lock()
        self.vault, self.pending = None, []
        return {"locked": True}

    def op_list(self) -> dict[str, Any]:
        return self._listing(self._vault())

    def op_reveal(self, item_id: str) -> dict[str, Any]:
        try:
            item = self._vault().get(uuid.UUID(hex=item_id))
        except (ValueError, errors.NotFoundError):
            raise SessionError("not_found", "No such credential.") from None
        return {"secret": item.secret}

    def op_ssh_public_key(self, item_id: str) -> dict[str, Any]:
        """An ssh-key item's public half (authorized_keys line and fingerprint): public,
        shown in the item's details; the private key stays here."""
        try:
            item = self._vault().get(uuid.UUID(hex=item_id))
        except (ValueError, errors.NotFoundError):
            raise SessionError("not_found", "No such credential.") from None
        if item.kind != SSH_KEY:
            return {"public_key": "", "fingerprint": "", "key_type": ""}
        return ssh_items.public_half(item.secret, item.name)

    def op_ssh_key_info(self, secret: str) -> dict[str, Any]:
        """What the add form says while a private key is pasted: its type and fingerprint,
        or why it cannot be stored here (passphrase-protected or PEM: the CLI command that
        imports it). Public data only; nothing is kept."""
        return ssh_items.describe(secret)

    def op_add(
        self, fields: dict[str, Any], secret: str = "", generate: bool = False
    ) -> dict[str, Any]:
        return self._edit(Op("add", item=_item_from(fields, secret, generate=bool(generate))))

    def op_update(
        self, item_id: str, fields: dict[str, Any], secret: str = "", generate: bool = False
    ) -> dict[str, Any]:
        """``generate``: a new SSH key replaces the stored one (rotation)."""
        vault = self._vault()
        if not secret and not generate:  # blank: keep the stored secret; the page never had it
            try:
                secret = vault.get(uuid.UUID(hex=item_id)).secret
            except (ValueError, errors.NotFoundError):
                raise SessionError("not_found", "No such credential.") from None
        item = _item_from(fields, secret, generate=bool(generate))
        return self._edit(Op("update", item_id=item_id, item=item))

    def op_remove(self, item_id: str) -> dict[str, Any]:
        return self._edit(Op("remove", item_id=item_id))

    def op_change_passphrase(self, current: str, new: str, confirm: str) -> dict[str, Any]:
        """Checked against the key slot (one KDF run): the session keeps no passphrase."""
        vault = self._vault()
        if not vault.check_passphrase(current):
            raise SessionError("wrong_passphrase", "The current passphrase is wrong.")
        if new != confirm:
            raise SessionError("mismatch", "The two new passphrases differ.")
        verdict = estimate(new)
        if not verdict.acceptable:
            raise SessionError("weak_passphrase", verdict.reason or "Too weak.")
        vault.change_passphrase(new, kdf=KdfParams.default())
        op = Op("passphrase", slot=vault.key_slot)
        self.pending.append(op)
        return {**_upload(vault), **self._listing(vault)}

    def op_set_grants(self, runner_id: str, item_ids: list[str]) -> dict[str, Any]:
        try:
            grant = (uuid.UUID(runner_id), tuple(uuid.UUID(hex=i) for i in item_ids))
        except (ValueError, TypeError, AttributeError):
            raise SessionError("not_found", "No such runner or credential.") from None
        return self._edit(Op("grants", grants=grant))

    def op_committed(self, revision: int) -> dict[str, Any]:
        """The server took the upload: it becomes this profile's own write and the head it
        remembers (``memory``, for the page to store)."""
        vault = self._vault()
        if revision != vault.revision:
            raise SessionError("revision_mismatch", "The server stored a different revision.")
        self.pending = []
        self.seen_revision = max(self.seen_revision, revision)
        vault.accepted()
        memory = None if vault.memory is None else vault.memory.to_json()
        return {"revision": revision, "memory": memory}

    def op_rebase(self, blob: str) -> dict[str, Any]:
        """The server holds a newer vault: adopt it with the keys held (a passphrase change
        elsewhere rewraps the same vault key), then replay our pending edits on top."""
        vault = self._vault()
        before = vault.key_slot
        vault.reload(b64d(blob))  # verified first; on any error nothing changes
        self.seen_revision = max(self.seen_revision, vault.seen_revision)
        notes: list[str] = []
        ours = any(op.kind == "passphrase" for op in self.pending)
        if not ours and vault.key_slot.salt != before.salt:  # rewrapped on another device
            notes.append(
                "The passphrase was changed on another device: use the new one from now on."
            )
        for op in self.pending:
            self._apply(vault, op, notes, merging=True)
        out = self._listing(vault)
        if self.pending:
            out.update(_upload(vault))
        return {**out, "notes": notes}

    def op_open_revision(self, blob: str) -> dict[str, Any]:
        """An earlier revision, for restore: its items (no secrets), opened read-only with
        the vault key held (whichever passphrase it was saved under)."""
        old = self._vault().open_revision(b64d(blob))
        try:
            return {"revision": old.revision, "items": [i.to_dict() for i in old.items()]}
        finally:
            old.lock()

    def op_restore(self, blob: str, head: dict[str, Any] | None = None) -> dict[str, Any]:
        """Make the current vault hold exactly the items of an earlier revision (its
        bookkeeping, pins and grants, stays as it is now); `head` ({revision, sha256,
        blob}) is what the server holds now, which the restore replaces."""
        vault = self._vault()
        if head is not None and int(head["revision"]) > vault.revision:
            self._supersede(vault, head)
        old = vault.open_revision(b64d(blob))
        try:
            wanted = {i.id: old.get(i.id) for i in old.items()}
        finally:
            old.lock()
        for info in vault.items():
            if info.id not in wanted:
                self._edit_quiet(Op("remove", item_id=info.id.hex))
        current = {i.id for i in vault.items()}
        for item_id, item in wanted.items():
            if item_id in current:
                self._edit_quiet(Op("update", item_id=item_id.hex, item=item))
            else:
                self._edit_quiet(Op("add", item=item))
        return {**_upload(vault), **self._listing(vault)}

    def op_recover(
        self,
        account_id: str,
        blob: str,
        head: dict[str, Any],
        passphrase: str,
        memory: dict[str, Any] | None = None,
        device: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Unlock from an earlier kept revision because the current one (`head`) does not
        open (damaged, or garbage saved with a stolen token), and re-seal its items on top
        of `head`: a restore that needs no readable current vault. The person asked for an
        older revision, so the rollback floor does not apply to it; the upload is newer
        than anything seen."""
        self.account_id = uuid.UUID(account_id)
        if device is not None:
            self.device = _device(device)
        vault = Vault.open(b64d(blob), passphrase, account_id=self.account_id, device=self.device)
        # What this profile remembers goes on (its confirmation too); the upload it makes
        # is remembered as pending like any other.
        vault.memory = self.remembered if memory is None else _memory(memory)
        if int(head["revision"]) <= vault.revision:
            vault.lock()
            raise SessionError("not_older", "That revision is not older than the current one.")
        opened = vault.revision
        vault.supersede_unread(int(head["revision"]), str(head["sha256"]))
        self.vault, self.pending = vault, []
        return {**_upload(vault), **self._listing(vault), "restored_from": opened}

    def _supersede(self, vault: Vault, head: dict[str, Any]) -> None:
        """Put the restore on top of the server's newer revision: adopted if it opens (as a
        rebase does); if it is no vault this key opens (garbage saved with a stolen token,
        say), replaced unread, which is what restoring an earlier revision asks for."""
        try:
            vault.reload(b64d(str(head["blob"])))
            self.seen_revision = max(self.seen_revision, vault.seen_revision)
        except (
            errors.RollbackError,
            errors.BindingError,
            errors.ForkError,
            errors.DowngradeError,
            errors.LineageError,
        ):
            # An older revision or another vault: nothing to restore on top of. A fork, a
            # downgrade or a lineage a key holder wrote is evidence, never written over.
            raise
        except errors.VaultError:
            vault.supersede_unread(int(head["revision"]), str(head["sha256"]))

    def _edit_quiet(self, op: Op) -> None:
        self._apply(self._vault(), op, [])
        self.pending.append(op)

    def op_owner_key(self) -> dict[str, Any]:
        return {"public_key": b64e(self._vault().owner_verify_key)}

    def op_fingerprint(self, key_type: str, public_key: str, expected: str = "") -> dict[str, Any]:
        """A key's fingerprint computed here, never taken from the server; with
        ``expected`` (from a one-time link), whether the key is the one the link names."""
        if key_type not in ("machine", "runner", "owner-grant"):
            raise SessionError("bad_key", "Unknown key type.")
        try:
            shown = fingerprint(key_type, b64d(public_key))
        except (ValueError, PinError):
            raise SessionError("bad_key", "The server sent something that is not a key.") from None
        if not expected:
            return {"fingerprint": shown}
        return {"fingerprint": shown, "matches": normalise_fingerprint(expected) == shown}

    def op_pin_runner(
        self, runner_id: str, public_key: str, name: str, known_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """Pin the key the owner is approving, inside the vault (authenticated by the vault
        key): every later seal for this runner uses this key and no other. The id is the
        server's word: one already pinned (vault_core refuses it), one the grants record
        names (a runner enrolled before pins, which a reseal would otherwise seal to this
        key), or one naming a runner or machine the page lists (``known_ids``) is refused
        with ``id_taken``."""
        try:
            key = b64d(public_key)
            fingerprint("runner", key)
            rid = uuid.UUID(runner_id)
            if str(rid) != runner_id:  # the one form pins are written in (format.md §12.1)
                raise ValueError
        except (ValueError, PinError):
            message = "The server sent something that is not a key or not a runner id."
            raise SessionError("bad_key", message) from None
        # A profile that has not confirmed the vault, a revoked id or key: nothing pinned.
        self._vault().check_sealable(rid, key)
        granted = _or_fresh(self._vault().runner_grants, RunnerGrants, GrantListError)
        if rid in granted.runners:
            raise errors.IdTakenError
        for known in known_ids or []:
            try:
                taken = uuid.UUID(str(known)) == rid
            except ValueError:
                continue  # not an id at all: it names nothing this pin could replace
            if taken:
                raise errors.IdTakenError
        return self._edit(Op("pin", pin=(runner_id, key, name)))

    def op_rename_pin(self, runner_id: str, name: str) -> dict[str, Any]:
        """The owner renamed a pinned runner: the pin (the name the page shows) follows."""
        return self._edit(Op("rename", rename=(runner_id, name)))

    def op_seal_grant(self, runner_id: str, public_key: str, revision: int) -> dict[str, Any]:
        """Seal to the key pinned at approval. ``public_key`` is what the server lists now:
        it is only compared with the pin (a difference fails with key_mismatch)."""
        vault = self._vault()
        try:
            offered = b64d(public_key)
        except ValueError:
            offered = b""
        try:
            runner = uuid.UUID(runner_id)
        except (ValueError, TypeError, AttributeError):
            raise SessionError("not_found", "No such runner.") from None
        # The pinned key, compared with the listed one, and never a revoked one or from a
        # profile that has not confirmed the vault is current (unconfirmed, key_revoked).
        key = vault.key_to_seal_to(runner, offered)
        present = {i.id for i in vault.items()}
        chosen = [i for i in vault.runner_grants().items_of(runner) if i in present]
        blob = seal_grant(vault, runner, key, chosen, revision)
        return {"revision": revision, "blob": b64e(blob), "items": len(chosen)}

    def op_saw_audit_head(self, seq: Any, hash: Any) -> dict[str, Any]:
        """The audit-chain head the server last named (``audit_head`` of a vault read or
        write): the next save seals it (docs/server.md, "Audit anchors"); a malformed one
        is ignored, so a server cannot make a save write a record no reader accepts."""
        if self.vault is None or self.vault.locked:
            return {"anchored": False}
        before = self.vault.audit_anchor
        _anchor(self.vault, {"seq": seq, "hash": hash})
        return {"anchored": self.vault.audit_anchor is not before}

    def op_verify_audit(self, export: Any, blobs: list[Any]) -> dict[str, Any]:
        """The audit export held against the chain heads sealed in the vault held and in
        ``blobs`` ([{revision, blob}], the kept revisions), each opened with the keys held;
        a revision that does not open is listed in ``unreadable``, not fatal."""
        vault = self._vault()
        lineages, unreadable = [vault.lineage], []
        for entry in blobs if isinstance(blobs, list) else []:
            try:
                old = vault.open_revision(b64d(str(entry["blob"])))
            except (errors.VaultError, ValueError, KeyError, TypeError):
                unreadable.append(entry.get("revision") if isinstance(entry, dict) else None)
                continue
            lineages.append(old.lineage)
            old.lock()
        anchors = {x.audit for x in lineages if x is not None and x.audit is not None}
        report = verify_export(export, anchors, chain=str(self.account_id))
        extra = {"revisions": len(lineages), "unreadable": unreadable}
        return {**report.to_dict(), **extra, "summary": report.summary()}

    def op_kdf_benchmark(self, runs: int = 3) -> dict[str, Any]:
        """Argon2id alone at the default parameters, on a throwaway input (benchmarks)."""
        params = KdfParams.default()
        times = [time_kdf(params) for _ in range(max(1, min(runs, 10)))]
        return {"ms": times, "ops": params.ops, "mem_kib": params.mem_kib}


def _or_fresh(read: Callable[[], Any], fresh: Callable[[], Any], damaged: type[Exception]) -> Any:
    """A bookkeeping record to change; a damaged one is replaced by a fresh record (its
    error told the person to redo what it held), so it can always be repaired."""
    try:
        return read()
    except damaged:
        return fresh()


SESSION = Session()
_OPS: dict[str, Callable[..., dict[str, Any]]] = {
    name[3:]: getattr(SESSION, name) for name in dir(SESSION) if name.startswith("op_")
}


def dispatch(op: str, args_json: str) -> str:
    """One request from the worker's JS; never raises, never echoes a secret."""
    handler = _OPS.get(op)
    if handler is None:
        return json.dumps({"ok": False, "code": "unknown_op", "message": "Unknown operation."})
    try:
        result = handler(**json.loads(args_json))
        return json.dumps({"ok": True, "result": result})
    except SessionError as exc:
        return json.dumps({"ok": False, "code": exc.code, "message": str(exc)})
    except errors.VaultError as exc:
        return json.dumps({"ok": False, "code": exc.code, "message": errors.describe(exc)})
    except Exception as exc:  # a bug: report its type only, never its message (may hold data)
        message = f"Internal error in the vault worker ({type(exc).__name__})."
        return json.dumps({"ok": False, "code": "internal", "message": message})


def _device(doc: dict[str, str] | None) -> Device | None:
    """This browser profile as the page keeps it; None (a new device each time) if absent."""
    if doc is None:
        return None
    try:
        return Device(str(doc["id"]), _name(str(doc["name"]), "Web browser"))
    except (KeyError, TypeError, errors.VaultError):
        raise SessionError("bad_device", "This browser's device record is damaged.") from None


def _memory(doc: Any) -> VaultMemory | None:
    """What the page stored (None: nothing); a damaged record is a typed error, never a
    fresh start (that would drop the fork check)."""
    if doc is None:
        return None
    try:
        return VaultMemory.from_json(doc)
    except errors.MalformedError:
        message = (
            "What this browser remembers of your vault (to detect a server showing it an"
            " older or different copy) is damaged. Clear this site's data in the browser's"
            " settings; the vault will then ask you to confirm it as on a new browser."
        )
        raise SessionError("memory_damaged", message) from None


def _name(text: str, default: str) -> str:
    """A name as vault records take it: 1 to 128 characters, no controls (the server's word
    or the browser's, so cleaned rather than refused)."""
    kept = "".join(
        c for c in str(text) if ord(c) >= 0x20 and ord(c) != 0x7F and not 0xD800 <= ord(c) <= 0xDFFF
    )
    return kept.strip()[:128] or default


def _anchor(vault: Any, head: Any) -> None:
    """The audit-chain head the server named: the next save seals it (docs/server.md,
    "Audit anchors"); anything malformed is ignored."""
    vault.audit_anchor = AuditAnchor.from_server(head) or vault.audit_anchor


def _fingerprint_or_blank(kind: str, key: bytes) -> str:
    try:
        return fingerprint(kind, key)
    except PinError:
        return ""


def _upload(vault: Vault) -> dict[str, Any]:
    """The next revision and exactly what it replaces (base revision and blob digest), so
    that a save stacked on one the server never took is refused rather than accepted."""
    upload = vault.save_for_upload()
    return {
        "base_revision": upload.base_revision,
        "base_sha256": upload.base_sha256,
        "blob": b64e(upload.blob),
    }


# Teams (vault_web.worker_teams): their operations share this session's personal vault,
# and locking it closes every team it opened.
from .worker_teams import Teams  # noqa: E402 - needs SESSION, defined above

TEAMS = Teams(SESSION)
_OPS.update(TEAMS.ops())


def _lock_everything() -> dict[str, Any]:
    TEAMS.lock()
    return SESSION.op_lock()


_OPS["lock"] = _lock_everything
