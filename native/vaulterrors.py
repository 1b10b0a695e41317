"""vault_core's typed errors as one-line CLI errors with an exit code and a next step."""

from __future__ import annotations

from native.errors import AUTH, FAILURE, LOCKED, NOT_FOUND, STATE, CliError

_RESYNC = "run `zkvault unlock` again once the server has a good copy, or `zkvault connect --clean`"

_MESSAGES: dict[str, tuple[int, str]] = {
    "wrong_passphrase": (AUTH, "wrong passphrase; try again"),
    "rollback": (
        STATE,
        "the vault is older than one this machine has already seen "
        "(possible rollback attack); refusing it; " + _RESYNC,
    ),
    "header_auth": (STATE, "the vault header failed authentication (it was altered); " + _RESYNC),
    "body_auth": (STATE, "an item in the vault failed authentication (it was altered); " + _RESYNC),
    "item_integrity": (STATE, "the vault's items do not match its manifest; " + _RESYNC),
    "item_missing": (STATE, "an item was dropped from the vault; " + _RESYNC),
    "item_duplicated": (STATE, "an item appears twice in the vault; " + _RESYNC),
    "item_replayed": (STATE, "an item in the vault is an old or foreign copy; " + _RESYNC),
    "wrong_account": (STATE, "the vault belongs to another account; " + _RESYNC),
    "wrong_vault": (STATE, "this is not the vault this machine was paired with; " + _RESYNC),
    "binding": (STATE, "the vault belongs to another account or vault; " + _RESYNC),
    "malformed": (STATE, "the vault data is malformed; " + _RESYNC),
    "non_canonical": (STATE, "the vault data is malformed (non-canonical); " + _RESYNC),
    "unsupported_version": (STATE, "the vault uses a newer format; upgrade zkvault"),
    "limit_exceeded": (STATE, "the vault exceeds a format limit; " + _RESYNC),
    "weak_kdf": (
        STATE,
        "the vault's KDF parameters are below the allowed floor; re-save it in the web app",
    ),
    "not_found": (NOT_FOUND, "no such item; `zkvault list` shows the names"),
    "locked": (LOCKED, "the vault is locked; run `zkvault unlock`"),
    "grant": (STATE, "this runner's grant could not be opened; ask the owner to grant again"),
    "grant_auth": (
        STATE,
        "this runner's grant failed verification (not sealed to this runner "
        "or not signed by the owner); ask the owner to grant again",
    ),
    "grant_binding": (
        STATE,
        "this grant was issued to another runner or account; ask the owner to grant again",
    ),
}


def translate(exc: Exception) -> CliError:
    code = str(getattr(exc, "code", "vault_error"))
    exit_code, message = _MESSAGES.get(
        code, (FAILURE, f"the vault could not be used ({code}); " + _RESYNC)
    )
    return CliError(message, exit_code, code)
