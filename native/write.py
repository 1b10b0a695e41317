"""Writing from the CLI, agent side: one ``write`` request changes one item and saves.

The agent holds the vault, so it applies the edit, serialises the next revision and uploads
it with the revision and blob digest it replaces (``Vault.save_for_upload``), exactly as the
web app's worker does (vault_web/worker_vault.py, web/core.js ``save``). Before the upload
is sent the vault memory, with its pending write, is kept in the local state; once the
server took it, the new blob and memory are (docs/format.md §6.2, §14.2).

On ``409 revision_conflict`` the newer vault is fetched and adopted with the keys held
(``Vault.reload``: every check of an unlock, the fork checks included; a fork stops the
agent as the watch does), and the edit is replayed on it, a bounded number of times. The
merge rules are the web app's (docs/web.md, docs/cli.md "Changing items"): edits of
different items are both kept; an edit of an item changed meanwhile is applied on top of
it (this change wins for the fields it sets); an edit of an item removed meanwhile adds it
again; an add whose name was taken meanwhile is kept under "name (2)"; each is said in a
note. Only a rename to a name taken meanwhile is refused with ``conflict``.

A write that fails otherwise (server unreachable, refused) puts the agent's vault back to
the revision the server holds, so that nothing unsaved is ever served.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from native import sync
from native.api import Api, ApiError, b64url_decode, b64url_encode
from native.errors import FAILURE, NETWORK, NOT_FOUND, STATE, USAGE, CliError
from native.machine_tokens import MachineSession, cannot_verify, revoked, unexpected
from native.state import StateStore

ACTIONS = ("add", "edit", "rename", "remove", "rotate")
# Replays after a 409 before giving up: the web app tries 4 times in all (web/core.js).
MAX_ATTEMPTS = 4
# Fields ``edit`` may change; the secret travels separately.
EDITABLE = ("name", "kind", "url", "username", "scopes", "expires", "note")
FORK_CODES = sync.FORK_CODES


class Forked(Exception):
    """A newer vault fetched after a 409 is a fork, downgrade or damaged lineage: the agent
    stops serving (native.agent), as when its watch meets one."""

    def __init__(self, error: Exception, revision: int) -> None:
        super().__init__(str(getattr(error, "code", "fork")))
        self.error = error
        self.revision = revision


def conflict(name: str, what: str) -> CliError:
    return CliError(
        f"conflict: {name!r} {what} while this change was being saved; nothing was written. "
        "The agent now holds the newer vault: look at it (`zkvault list`) and run the "
        "command again",
        FAILURE,
        "conflict",
    )


@dataclass(frozen=True)
class Base:
    """The item an edit was made against: its id, item revision and name."""

    item_id: uuid.UUID
    item_rev: int
    name: str


@dataclass
class Edit:
    action: str
    name: str  # the item named (add: the new item's name)
    fields: dict[str, Any]
    secret: str | None = field(repr=False)
    # The item as it was when first applied: what a replay re-adds if it was removed.
    _original: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, request: dict[str, Any]) -> Edit:
        action = request.get("action")
        name = request.get("name")
        fields = request.get("fields") or {}
        secret = request.get("secret")
        if action not in ACTIONS or not isinstance(name, str) or not isinstance(fields, dict):
            raise CliError("malformed write request", USAGE, "bad_request")
        if secret is not None and not isinstance(secret, str):
            raise CliError("malformed write request", USAGE, "bad_request")
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            raise CliError(f"unknown field {sorted(unknown)[0]!r}", USAGE, "bad_request")
        if action in ("add", "rotate") and not secret:
            raise CliError("a secret is required", USAGE, "usage")
        return cls(action, name, dict(fields), secret)

    def base(self, vault: Any) -> Base | None:
        """The item this edit changes, as the agent holds it now (None for add)."""
        if self.action == "add":
            return None
        for info in vault.items():  # never a reserved (bookkeeping) item
            if info.name == self.name or str(info.id) == self.name or info.id.hex == self.name:
                return Base(info.id, info.revision, info.name)
        raise CliError(
            f"no item named {self.name!r}; `zkvault list` shows the names", NOT_FOUND, "not_found"
        )

    def apply(
        self, vault: Any, base: Base | None, replay: bool, notes: list[str]
    ) -> uuid.UUID | None:
        """Make the change in ``vault``; on a replay after a 409, by the web app's merge
        rules (module docstring), with a note for each rule that applied."""
        from vault_core import Item

        if self.action == "add":
            name, n = self.name, 2
            while any(i.name == name for i in vault.items()):
                if not replay:
                    raise _exists(self.name)
                name, n = f"{self.name} ({n})", n + 1
            if name != self.name:
                notes.append(f"{self.name!r} also exists on the server; yours is kept as {name!r}")
            assert self.secret is not None
            item = _item(Item, {"name": name, **self.fields}, self.secret)
            added: uuid.UUID = _checked(vault.add, item)
            return added
        assert base is not None
        current = next((i for i in vault.items() if i.id == base.item_id), None)
        if current is None:
            if self.action == "remove":
                return None  # removed elsewhere too: nothing left to do
            if self._original is None:
                raise conflict(base.name, "was removed elsewhere")
            notes.append(f"{base.name!r} was removed elsewhere; this change adds it again")
            fields = {**self._original, **self._changes()}
            return _checked(vault.add, _item(Item, fields))  # type: ignore[no-any-return]
        if current.revision != base.item_rev:
            notes.append(f"{base.name!r} was changed elsewhere; this change was applied on top")
        if self.action == "remove":
            vault.remove(base.item_id)
            return base.item_id
        new_name = self.fields.get("name", current.name)
        if any(i.name == new_name and i.id != base.item_id for i in vault.items()):
            raise conflict(new_name, "was added elsewhere") if replay else _exists(new_name)
        if self._original is None:
            self._original = _fields_of(vault.get(base.item_id))
        item = _item(Item, {**_fields_of(vault.get(base.item_id)), **self._changes()})
        _checked(vault.update, base.item_id, item)
        return base.item_id

    def kind_notes(self, vault: Any, base: Base | None) -> list[str]:
        """An added token without a kind gets the one its format suggests (else generic);
        a new secret whose format says another kind than the item's gets a warning. Here,
        where vault_core is loaded anyway, so that the CLI's add starts without it."""
        if not self.secret:
            return []
        from vault_core import token_formats

        kind = self.fields.get("kind")
        if self.action == "add" and not kind:
            self.fields["kind"] = token_formats.guess_kind(self.secret) or "generic"
            return []
        if kind is None and self.action == "rotate" and base is not None:
            kind = vault.get(base.item_id).kind
        warning = token_formats.kind_warning(kind, self.secret) if kind else None
        return [f"warning: {warning}"] if warning else []

    def _changes(self) -> dict[str, Any]:
        changes = dict(self.fields)
        if self.secret:
            changes["secret"] = self.secret
        return changes


def _exists(name: str) -> CliError:
    return CliError(
        f"an item named {name!r} already exists; choose another name (or `zkvault edit` it)",
        USAGE,
        "exists",
    )


def _checked(change: Callable[..., Any], *args: Any) -> Any:
    """A vault change; what vault_core refuses (a name it reserves, a full vault) as a
    usage error that says so."""
    from vault_core import errors

    try:
        return change(*args)
    except errors.ReservedNameError:
        raise _reserved() from None
    except (errors.InvalidItemError, errors.LimitExceededError) as exc:
        raise CliError(f"not saved: {exc}", USAGE, exc.code) from None


def _fields_of(item: Any) -> dict[str, Any]:
    return {
        "name": item.name,
        "kind": item.kind,
        "url": item.url,
        "secret": item.secret,
        "username": item.username,
        "scopes": list(item.scopes),
        "expires": item.expires,
        "note": item.note,
    }


def _item(item_class: Any, fields: dict[str, Any], secret: str | None = None) -> Any:
    from vault_core import errors

    values = {
        "kind": "generic",
        "url": "",
        "username": "",
        "scopes": [],
        "expires": None,
        "note": "",
        **fields,
    }
    if secret is not None:
        values["secret"] = secret
    values["scopes"] = tuple(values["scopes"] or ())
    try:
        return item_class(**values)
    except errors.ReservedNameError:
        raise _reserved() from None
    except errors.InvalidItemError as exc:
        # vault_core's messages name the field and its rule, never its value.
        raise CliError(f"invalid item: {exc}", USAGE, "invalid_item") from None
    except TypeError:
        raise CliError("malformed write request", USAGE, "bad_request") from None


def _reserved() -> CliError:
    return CliError(
        "names that begin with '.zkvault-' are reserved for zkvault's own records; "
        "choose another name",
        USAGE,
        "reserved_name",
    )


class Writer:
    """The agent's writer: its own machine session (tokens renewed under the state lock,
    as the watch's are), the local state, and the blob the vault now is."""

    def __init__(self, session: sync.Session, blob: bytes) -> None:
        self.session = session
        self.store: StateStore = session.store
        self.machine = MachineSession(session.store, session.machine.api)
        self.blob = blob  # what the server holds as far as the agent knows

    def adopt(self, blob: bytes, vault: Any) -> None:
        """The agent's adopt hook: a newer revision the watch brought."""
        self.blob = blob
        self.session.adopt(blob, vault)

    def write(self, vault: Any, request: dict[str, Any]) -> dict[str, Any]:
        edit = Edit.parse(request)
        base = edit.base(vault)  # items may be written before confirming (format.md §14.3)
        merged = 0
        notes = edit.kind_notes(vault, base)
        for attempt in range(MAX_ATTEMPTS):
            # A refused edit changes nothing in the vault (checks come first).
            item_id = edit.apply(vault, base, replay=attempt > 0, notes=notes)
            if item_id is None:  # a remove that another device made already
                return {
                    **self._answer(vault, edit, base, None, merged, saved=False),
                    "notes": notes,
                }
            upload = vault.save_for_upload()
            try:
                self._remember_pending(vault)
                answer = self._put(upload)
            except _Stale:
                merged += 1
                self._catch_up(vault)
                continue
            except BaseException:
                self._restore(vault)
                raise
            vault.accepted()
            self.blob = upload.blob
            _anchor(vault, answer.get("audit_head"))
            sync.remember(self.store, upload.blob, vault, True)
            return {**self._answer(vault, edit, base, item_id, merged, saved=True), "notes": notes}
        self._restore(vault)
        raise CliError(
            "the vault keeps changing on the server; nothing was written, try again in a moment",
            FAILURE,
            "busy",
        )

    def saved(self, vault: Any) -> Any:
        """The vault as the server holds it now, opened with the keys held (lock it after
        use): what `zkvault import` reads back before it removes a plaintext copy."""
        try:
            remote = self._call("GET", "/api/vault", None)
        except ApiError as exc:
            raise unexpected(exc) from None
        return vault.open_revision(b64url_decode(str(remote.get("blob", ""))))

    def save_change(self, vault: Any, change: Callable[[Any], None]) -> None:
        """A change to the vault's own records (identity, contacts) saved as an item edit
        is: replayed on the newer vault after a 409, the held vault put back on failure."""
        for _attempt in range(MAX_ATTEMPTS):
            change(vault)  # raises before changing anything when it refuses
            upload = vault.save_for_upload()
            try:
                self._remember_pending(vault)
                answer = self._put(upload)
            except _Stale:
                self._catch_up(vault)
                continue
            except BaseException:
                self._restore(vault)
                raise
            vault.accepted()
            self.blob = upload.blob
            _anchor(vault, answer.get("audit_head"))
            sync.remember(self.store, upload.blob, vault, True)
            return
        self._restore(vault)
        raise CliError(
            "the vault keeps changing on the server; nothing was written, try again in a moment",
            FAILURE,
            "busy",
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """An authenticated call for the agent's other requests (teams, identity)."""
        return self._call(method, path, body)

    # -- the server ---------------------------------------------------------------------------

    def _put(self, upload: Any) -> dict[str, Any]:
        body = {
            "base_revision": upload.base_revision,
            "base_sha256": upload.base_sha256,
            "blob": b64url_encode(upload.blob),
        }
        try:
            return self._call("PUT", "/api/vault", body)
        except ApiError as exc:
            if exc.status == 409 and exc.code == "revision_conflict":
                raise _Stale from None
            raise _refused(exc) from None

    def _catch_up(self, vault: Any) -> None:
        """After a 409: fetch the server's vault and adopt it with the keys held."""
        try:
            remote = self._call("GET", "/api/vault", None)
        except ApiError as exc:
            self._restore(vault)
            raise unexpected(exc) from None
        except BaseException:
            self._restore(vault)
            raise
        blob = b64url_decode(str(remote.get("blob", "")))
        revision = int(str(remote.get("revision", 0)))
        try:
            vault.reload(blob)
        except Exception as exc:
            if getattr(exc, "code", None) in FORK_CODES:
                raise Forked(exc, revision) from None
            self._restore(vault)
            raise
        _anchor(vault, remote.get("audit_head"))
        self.adopt(blob, vault)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One call with the machine's access token, renewed once if refused (as
        MachineSession.get does for reads)."""
        api: Api = self.machine.api
        try:
            return api.call(method, path, body, token=self.machine.token())
        except ApiError as exc:
            if exc.status != 401:
                raise
            if exc.code == "revoked":
                raise revoked() from None
        self.machine._token = None  # expired early, or revoked: a refresh tells which
        try:
            return api.call(method, path, body, token=self.machine.token())
        except ApiError as exc:
            if exc.status != 401:
                raise
            raise revoked() if exc.code == "revoked" else cannot_verify() from None

    # -- local state --------------------------------------------------------------------------

    def _remember_pending(self, vault: Any) -> None:
        """Before the upload goes out: the vault memory with its pending write."""
        memory = vault.memory
        if memory is None:
            return
        with self.store.update() as state:
            if state.vault_id == str(vault.vault_id):
                state.vault_memory = memory.to_json()

    def _restore(self, vault: Any) -> None:
        """Back to the blob the server holds (an unsaved edit is never served)."""
        try:
            vault.reload(self.blob)
        except Exception:  # cannot happen with the blob it came from; never serve the edit
            vault.lock()
            raise CliError(
                "the agent could not return to the saved vault and locked it; run "
                "`zkvault unlock` again",
                STATE,
                "write_failed",
            ) from None

    # -- the answer ---------------------------------------------------------------------------

    def _answer(
        self,
        vault: Any,
        edit: Edit,
        base: Base | None,
        item_id: uuid.UUID | None,
        merged: int,
        *,
        saved: bool,
    ) -> dict[str, Any]:
        name = base.name if base is not None else edit.name
        now = str(edit.fields.get("name", name))
        return {
            "ok": True,
            "action": edit.action,
            "name": now if edit.action != "remove" else name,
            "previous_name": name if now != name else None,
            "id": None if item_id is None else item_id.hex,
            "revision": vault.revision,
            "saved": saved,
            "merged": merged > 0,
            "runners": _runners_granted(vault, item_id) if saved else [],
        }


class _Stale(Exception):
    """The server answered 409 revision_conflict."""


def _refused(exc: ApiError) -> CliError:
    """The server refused the upload: nothing was stored."""
    reasons: dict[str, tuple[str, int]] = {
        "rate_limited": ("too many writes from this machine; wait a minute", NETWORK),
        "history_full": (
            "the vault's kept history is full on the server (docs/server.md, History)",
            FAILURE,
        ),
        "too_large": ("the vault would be larger than the server accepts", FAILURE),
    }
    if exc.code in reasons:
        text, code = reasons[exc.code]
        return CliError(f"the server refused the write: {text}; nothing was saved", code, exc.code)
    return unexpected(exc)


def _runners_granted(vault: Any, item_id: uuid.UUID | None) -> list[str]:
    """The runners whose grant holds the item (their pinned names, else their ids)."""
    if item_id is None:
        return []
    from vault_core.errors import VaultError

    try:
        grants = vault.runner_grants()
    except VaultError:
        return []
    try:
        pins = vault.runner_pins().runners
    except VaultError:
        pins = {}
    names = []
    for runner in grants.runners:
        if item_id in grants.items_of(runner):
            pin = pins.get(runner)
            names.append(pin.name if pin is not None else str(runner))
    return sorted(names)


def _anchor(vault: Any, head: Any) -> None:
    """The audit-chain head the server named: the next save seals it (docs/server.md,
    "Audit anchors"); anything malformed is ignored."""
    from vault_core.audit_chain import AuditAnchor

    vault.audit_anchor = AuditAnchor.from_server(head) or vault.audit_anchor


WriteHook = Callable[[Any, dict[str, Any]], dict[str, Any]]
