"""Every way opening, parsing or sealing can fail, as distinct types, and the one table of
what each means to a person.

``code`` is the stable machine-readable name used in vectors, the CLI's --json output and
the web app. ``summary`` is the one sentence shown for it: the CLI (native/vaulterrors.py
adds an exit code and a next step) and the web app (vault_web/worker_vault.py) both take it
from here.
An instance's own message is the summary, or a more specific fixed string carrying only
public facts (sizes, revisions, limits, field names): never a secret, a passphrase or a
decrypted byte.
"""

from __future__ import annotations

from typing import ClassVar


class VaultError(Exception):
    """Base of every error vault_core raises on purpose."""

    code: ClassVar[str] = "vault_error"
    summary: ClassVar[str] = "The vault could not be used."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.summary)


class MalformedError(VaultError):
    code = "malformed"
    summary = "The data is damaged (malformed)."


class NonCanonicalError(MalformedError):
    code = "non_canonical"
    summary = "The data is damaged (not in its one canonical encoding)."


class UnsupportedVersionError(VaultError):
    code = "unsupported_version"
    summary = (
        "This was written in a format this zkvault version does not support (a newer version?)."
    )


class LimitExceededError(VaultError):
    code = "limit_exceeded"
    summary = "A size, count or parameter is beyond what the format allows."


class WeakKdfError(VaultError):
    code = "weak_kdf"
    summary = "The vault's key derivation settings are too weak to trust."


class InvalidItemError(VaultError):
    code = "invalid_item"
    summary = "An item field is missing, of the wrong type or out of range."


class ReservedNameError(InvalidItemError):
    code = "reserved_name"
    summary = (
        "Names that begin with “.zkvault-” are reserved for zkvault's own records:"
        " choose another name."
    )


class BindingError(VaultError):
    code = "binding"
    summary = "The vault belongs to another account or is another vault."


class WrongAccountError(BindingError):
    code = "wrong_account"
    summary = "This vault belongs to another account."


class WrongVaultError(BindingError):
    code = "wrong_vault"
    summary = "This is not your vault (its id changed)."


class WrongPassphraseError(VaultError):
    code = "wrong_passphrase"
    summary = "Wrong passphrase."


class HeaderAuthError(VaultError):
    code = "header_auth"
    summary = "The vault was tampered with: its header failed authentication."


class BodyAuthError(VaultError):
    code = "body_auth"
    summary = "The vault was tampered with: an item failed authentication."


class ItemIntegrityError(VaultError):
    code = "item_integrity"
    summary = "The vault was tampered with: its items do not match its manifest."


class ItemMissingError(ItemIntegrityError):
    code = "item_missing"
    summary = "The vault was tampered with: an item was removed."


class ItemDuplicatedError(ItemIntegrityError):
    code = "item_duplicated"
    summary = "The vault was tampered with: an item appears twice."


class ItemReplayedError(ItemIntegrityError):
    code = "item_replayed"
    summary = "The vault was tampered with: an item was replaced by an old or foreign copy."


class RollbackError(VaultError):
    code = "rollback"
    summary = (
        "The server sent an older vault than this device has already seen"
        " (rolled back: a possible rollback attack), so it was refused."
    )


class DowngradeError(VaultError):
    code = "downgrade"
    summary = (
        "The server sent this vault in an older format than this device has already seen"
        " it in (a downgrade), so it was refused."
    )


class ForkError(VaultError):
    code = "fork"
    summary = (
        "The server is showing this device a different history of your vault than before:"
        " a write this device saw or made is missing (a fork). Nothing was changed. Compare"
        " the vault on your other devices, and treat the server as compromised."
    )


class LineageError(VaultError):
    code = "lineage"
    summary = "The record in your vault of which writes it descends from is damaged or missing."


class UnconfirmedError(VaultError):
    code = "unconfirmed"
    summary = (
        "This device has not seen this vault before: confirm that the last save shown is"
        " your latest before anything is sealed to a runner or a machine."
    )


class GrantError(VaultError):
    code = "grant"
    summary = "This runner's grant could not be opened."


class GrantAuthError(GrantError):
    code = "grant_auth"
    summary = (
        "The grant failed verification: it was not sealed to this runner"
        " or not signed by the owner."
    )


class GrantBindingError(GrantError):
    code = "grant_binding"
    summary = "The grant was issued to another runner or account."


class GrantListError(VaultError):
    code = "grant_list"
    summary = (
        "The record in your vault of which items each runner is granted is damaged;"
        " choose each runner's items again."
    )


class NotFoundError(VaultError):
    code = "not_found"
    summary = "No such item."


class LockedError(VaultError):
    code = "locked"
    summary = "The vault is locked; its keys are gone."


class PinError(VaultError):
    """The runner keys pinned in the vault are damaged (vault_core.pins); base of the
    errors about checking a key against a pin."""

    code = "pin"
    summary = "The runner keys pinned in your vault are damaged."


class KeyLengthError(PinError):
    code = "bad_key"
    summary = "That key has the wrong length or type for a fingerprint or a pin."


class FingerprintFormatError(PinError):
    code = "bad_fingerprint"
    summary = "That is not a fingerprint (six groups of four letters or digits)."


class KeyNotPinnedError(PinError):
    code = "key_not_pinned"
    summary = (
        "This runner's key was never pinned in your vault (it was enrolled before keys were "
        "pinned, or by another vault): nothing was sealed. Revoke it and enrol it again."
    )


class KeyMismatchError(PinError):
    code = "key_mismatch"
    summary = (
        "Warning: the server presented a different key for this runner than the one you "
        "approved. Nothing was sealed to it. The server or its database may be compromised; "
        "revoke the runner and enrol it again."
    )

    def __init__(self, pinned: str = "", offered: str = "") -> None:
        # Fingerprints are public facts: safe in a message.
        detail = f"the server presented key {offered}, but the key pinned at approval is {pinned}"
        super().__init__(detail if pinned else None)
        self.pinned = pinned
        self.offered = offered


class IdTakenError(PinError):
    code = "id_taken"
    summary = (
        "Refused: the server filed this approval under the id of a runner or machine you"
        " already have, so approving would replace its key. Nothing was pinned or approved."
        " The server may be compromised; run the command on the new machine again."
    )


class KeyRevokedError(PinError):
    code = "key_revoked"
    summary = (
        "Refused: that key or id belongs to a runner or machine you revoked. Nothing was"
        " pinned, approved or sealed; enrol or connect it again to get a new key."
    )


class OwnerKeyUnpinnedError(VaultError):
    code = "owner_key_unpinned"
    summary = (
        "This runner credential carries no pinned owner grant key, so no grant can be"
        " verified: enrol the runner again."
    )


class StateAuthError(VaultError):
    code = "state_auth"
    summary = (
        "This machine's local state failed authentication: it was altered, damaged"
        " or copied from another machine."
    )


class IdentityError(VaultError):
    """Base of the errors about a person's identity key (format.md §15.1)."""

    code = "identity"
    summary = "A person's identity key or the contacts pinned in your vault could not be used."


class IdentityAuthError(IdentityError):
    code = "identity_auth"
    summary = "An identity key failed verification: it is not signed by the key it names."


class IdentityBindingError(IdentityError):
    code = "identity_binding"
    summary = "The server presented the identity key of another account than the one asked for."


class IdentityChangedError(IdentityError):
    code = "identity_changed"
    summary = (
        "Warning: the server presented a different identity key for this person than the one"
        " you pinned. Nothing was sealed to it. Compare the safety number with them, then"
        " accept the new key only if they confirm it."
    )

    def __init__(self, pinned: str = "", offered: str = "") -> None:
        # Safety numbers are public facts: safe in a message.
        detail = f"the server presented {offered}, but the one you pinned is {pinned}"
        super().__init__(detail if pinned else None)
        self.pinned = pinned
        self.offered = offered


class IdentityNotPinnedError(IdentityError):
    code = "identity_not_pinned"
    summary = (
        "This person's identity key is not pinned in your vault: verify their safety number"
        " or accept it on first use before adding them to a team."
    )


class TeamLogError(VaultError):
    """Base of the membership-log refusals (format.md §15.3): an entry that is well formed
    but does not follow from the log before it."""

    code = "team_log"
    summary = (
        "The team's membership log was refused: an entry does not follow from the ones before it."
    )


class TeamLogGapError(TeamLogError):
    code = "team_log_gap"
    summary = "The team's membership log was refused: an entry is missing or out of order."


class TeamLogForkError(TeamLogError):
    code = "team_log_fork"
    summary = (
        "The server is showing this device a different membership history of this team than"
        " before (a fork). Nothing was changed; treat the server as compromised."
    )


class TeamLogRollbackError(TeamLogError):
    code = "team_log_rollback"
    summary = (
        "The server sent an older membership log of this team than this device has already"
        " seen (rolled back), so it was refused."
    )


class TeamLogSignatureError(TeamLogError):
    code = "team_log_signature"
    summary = (
        "The team's membership log was refused: an entry is not signed by the member it names."
    )


class TeamPermissionError(TeamLogError):
    code = "team_permission"
    summary = (
        "Refused: that change needs a team role its signer does not hold (or would leave the"
        " team without an owner)."
    )


class TeamKeyError(VaultError):
    code = "team_key"
    summary = (
        "The team key sealed for you could not be opened, or was sealed for another member"
        " or epoch."
    )


class TeamKeyCheckError(TeamKeyError):
    code = "team_key_check"
    summary = (
        "The team key sealed for you is not the key the membership log commits to: the"
        " server or a member gave you another key. Nothing was read or written."
    )


class StaleEpochError(VaultError):
    code = "stale_epoch"
    summary = (
        "The team vault was written with an old team key (before a member was removed or"
        " left), so it was refused."
    )


class TeamVaultSignatureError(VaultError):
    code = "team_vault_signature"
    summary = "The team vault was refused: it is not signed by the member it names as its writer."


ALL_ERRORS: dict[str, type[VaultError]] = {
    cls.code: cls
    for cls in (
        VaultError,
        MalformedError,
        NonCanonicalError,
        UnsupportedVersionError,
        LimitExceededError,
        WeakKdfError,
        InvalidItemError,
        ReservedNameError,
        BindingError,
        WrongAccountError,
        WrongVaultError,
        WrongPassphraseError,
        HeaderAuthError,
        BodyAuthError,
        ItemIntegrityError,
        ItemMissingError,
        ItemDuplicatedError,
        ItemReplayedError,
        RollbackError,
        DowngradeError,
        ForkError,
        LineageError,
        UnconfirmedError,
        GrantError,
        GrantAuthError,
        GrantBindingError,
        GrantListError,
        NotFoundError,
        LockedError,
        PinError,
        KeyLengthError,
        FingerprintFormatError,
        KeyNotPinnedError,
        KeyMismatchError,
        IdTakenError,
        KeyRevokedError,
        OwnerKeyUnpinnedError,
        StateAuthError,
        IdentityError,
        IdentityAuthError,
        IdentityBindingError,
        IdentityChangedError,
        IdentityNotPinnedError,
        TeamLogError,
        TeamLogGapError,
        TeamLogForkError,
        TeamLogRollbackError,
        TeamLogSignatureError,
        TeamPermissionError,
        TeamKeyError,
        TeamKeyCheckError,
        StaleEpochError,
        TeamVaultSignatureError,
    )
}

MESSAGES: dict[str, str] = {code: cls.summary for code, cls in ALL_ERRORS.items()}


def describe(exc: VaultError) -> str:
    """What to show a person: the code's summary, and the instance's own (secret-free)
    detail when it says more, e.g. which field of an item is invalid."""
    detail = str(exc)
    if not detail or detail == exc.summary:
        return exc.summary
    return f"{exc.summary.removesuffix('.')} ({detail})."
