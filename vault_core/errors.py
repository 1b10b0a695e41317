"""Every way opening, parsing or sealing can fail, as distinct types.

Messages are fixed strings or carry only public facts (sizes, revisions,
limits): never a secret, a passphrase or a decrypted byte. ``code`` is the
stable machine-readable name used in vectors, the CLI's --json output and
the web app.
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error vault_core raises on purpose."""

    code = "vault_error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)


class MalformedError(VaultError):
    """The data is not a well-formed zkvault object."""

    code = "malformed"


class NonCanonicalError(MalformedError):
    """The data decodes, but not from its one canonical encoding."""

    code = "non_canonical"


class UnsupportedVersionError(VaultError):
    """The format version or algorithm identifier is not one this client supports."""

    code = "unsupported_version"


class LimitExceededError(VaultError):
    """A size, count or parameter is beyond what the format allows."""

    code = "limit_exceeded"


class WeakKdfError(VaultError):
    """The KDF parameters are below the floors every client enforces."""

    code = "weak_kdf"


class InvalidItemError(VaultError):
    """An item field is missing, of the wrong type or out of range."""

    code = "invalid_item"


class BindingError(VaultError):
    """The vault belongs to another account or is another vault."""

    code = "binding"


class WrongAccountError(BindingError):
    """The vault belongs to another account."""

    code = "wrong_account"


class WrongVaultError(BindingError):
    """This is not the vault this client expects for the account."""

    code = "wrong_vault"


class WrongPassphraseError(VaultError):
    """Wrong passphrase (or the key slot was altered: the two cannot be told apart)."""

    code = "wrong_passphrase"


class HeaderAuthError(VaultError):
    """The vault header failed authentication: it was altered."""

    code = "header_auth"


class BodyAuthError(VaultError):
    """An item record failed authentication: it was altered."""

    code = "body_auth"


class ItemIntegrityError(VaultError):
    """The set of item records does not match the authenticated manifest."""

    code = "item_integrity"


class ItemMissingError(ItemIntegrityError):
    """An item listed in the authenticated manifest is missing (dropped)."""

    code = "item_missing"


class ItemDuplicatedError(ItemIntegrityError):
    """An item record appears more than once."""

    code = "item_duplicated"


class ItemReplayedError(ItemIntegrityError):
    """An item record is an older or foreign version, not the one the manifest names."""

    code = "item_replayed"


class RollbackError(VaultError):
    """The vault's revision is older than one this client has already seen."""

    code = "rollback"


class GrantError(VaultError):
    """A runner grant could not be opened or failed verification."""

    code = "grant"


class GrantAuthError(GrantError):
    """The grant was not sealed to this runner's key or its signature is invalid."""

    code = "grant_auth"


class GrantBindingError(GrantError):
    """The grant was issued to another runner or by another account."""

    code = "grant_binding"


class NotFoundError(VaultError):
    """No item with that id or name."""

    code = "not_found"


class LockedError(VaultError):
    """The vault has been locked; its keys are gone."""

    code = "locked"


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
        GrantError,
        GrantAuthError,
        GrantBindingError,
        NotFoundError,
        LockedError,
    )
}
