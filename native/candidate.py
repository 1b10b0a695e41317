"""The one check of a vault blob offered to this machine (by the server or a file).

Before anything is decrypted, its public header must name this machine's account and
vault, a format no older than seen here and a revision no older than the highest seen
here. The passphrase later authenticates the whole blob; this catches a foreign or
replayed vault early, with a message that says which.
"""

from __future__ import annotations

import uuid

from native.errors import STATE, CliError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vault_core import PublicHeader


def check(
    blob: bytes,
    source: str,
    *,
    account_id: str | uuid.UUID | None,
    vault_id: str | uuid.UUID | None,
    max_revision: int,
    min_format: int = 0,
) -> PublicHeader:
    """The blob's public header, or a CliError naming ``source`` ("the server's vault")."""
    from vault_core import errors, peek_header

    try:
        header = peek_header(blob)
    except errors.VaultError as exc:
        from native.vaulterrors import translate

        raise translate(exc) from None
    if account_id and uuid.UUID(str(account_id)) != header.account_id:
        raise CliError(f"{source} belongs to another account; refusing it", STATE, "wrong_account")
    if vault_id and uuid.UUID(str(vault_id)) != header.vault_id:
        raise CliError(
            f"{source} is another vault than this machine's; refusing it "
            "(`zkvault connect --clean` if the vault was replaced)",
            STATE,
            "wrong_vault",
        )
    if header.version < min_format:  # before the revision, as Vault.open (downgrade)
        from native.vaulterrors import translate

        raise translate(errors.DowngradeError())
    if header.revision < max_revision:
        raise CliError(
            f"{source} is revision {header.revision}, older than revision {max_revision} "
            "this machine has seen (possible rollback attack); refusing it",
            STATE,
            "rollback",
        )
    return header
