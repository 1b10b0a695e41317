"""vault_core's typed errors as one-line CLI errors with an exit code and a next step.

What each error means comes from vault_core.errors (its ``summary``, shared with the web
app); this module adds only what the CLI needs: an exit code and what to do next.
"""

from __future__ import annotations

from native.errors import AUTH, FAILURE, LOCKED, NOT_FOUND, STATE, USAGE, CliError
from vault_core import errors

_RESYNC = "run `zkvault unlock` again once the server has a good copy, or `zkvault connect --clean`"
_REGRANT = "ask the owner to grant again"
_NOT_TO_THEM = "the server may be compromised; do not add or seal to this person"
_COMPARE_TEAM = "the server may be compromised; compare the team on another member's device"
_COMPARE_TEAM_VAULT = (
    "the server may be compromised; compare the team vault on another member's device"
)

# Every vault_core error code (tests/unit/test_error_messages.py checks none is missing).
NEXT_STEPS: dict[str, tuple[int, str]] = {
    "vault_error": (FAILURE, _RESYNC),
    "malformed": (STATE, _RESYNC),
    "non_canonical": (STATE, _RESYNC),
    "unsupported_version": (STATE, "upgrade zkvault"),
    "limit_exceeded": (STATE, _RESYNC),
    "weak_kdf": (STATE, "re-save the vault in the web app"),
    "invalid_item": (STATE, _RESYNC),
    "reserved_name": (USAGE, "nothing was changed"),
    "binding": (STATE, _RESYNC),
    "wrong_account": (STATE, _RESYNC),
    "wrong_vault": (STATE, _RESYNC),
    "wrong_passphrase": (AUTH, "try again"),
    "header_auth": (STATE, _RESYNC),
    "body_auth": (STATE, _RESYNC),
    "item_integrity": (STATE, _RESYNC),
    "item_missing": (STATE, _RESYNC),
    "item_duplicated": (STATE, _RESYNC),
    "item_replayed": (STATE, _RESYNC),
    "rollback": (STATE, _RESYNC),
    "downgrade": (STATE, "compare the vault on another device; the server may be compromised"),
    "fork": (STATE, "compare the vault on your other devices; the server may be compromised"),
    "lineage": (STATE, _RESYNC),
    "unconfirmed": (STATE, "check the last save shown, then confirm it is your current vault"),
    "grant": (STATE, _REGRANT),
    "grant_auth": (STATE, _REGRANT),
    "grant_binding": (STATE, _REGRANT),
    "grant_list": (STATE, "choose each runner's items again in the web app"),
    "not_found": (NOT_FOUND, "`zkvault list` shows the names"),
    "locked": (LOCKED, "run `zkvault unlock`"),
    "pin": (STATE, "enrol the runner again"),
    "bad_key": (USAGE, "use a 32-byte key of a known type"),
    "bad_fingerprint": (USAGE, "copy the fingerprint the web app shows"),
    "key_not_pinned": (STATE, "enrol the runner again"),
    "key_mismatch": (STATE, "revoke the runner in the web app and enrol it again"),
    "id_taken": (STATE, "run the pairing command on the new machine again"),
    "key_revoked": (STATE, "enrol or connect it again to get a new key"),
    "owner_key_unpinned": (STATE, "enrol it again with `zkvault runner enroll`"),
    "state_auth": (STATE, "run `zkvault connect --clean` (or `zkvault import`) to start again"),
    "identity": (
        STATE,
        "the identity or contacts record in your vault is damaged; restore it from a device "
        "that has it",
    ),
    "identity_auth": (STATE, _NOT_TO_THEM),
    "identity_binding": (STATE, _NOT_TO_THEM),
    "identity_changed": (
        STATE,
        "compare safety numbers with them, then accept the new key if they confirm it",
    ),
    "identity_not_pinned": (
        USAGE,
        "compare their safety number or accept it on first use, then try again",
    ),
    "team_log": (STATE, _COMPARE_TEAM),
    "team_log_gap": (STATE, _COMPARE_TEAM),
    "team_log_fork": (STATE, _COMPARE_TEAM),
    "team_log_rollback": (STATE, _COMPARE_TEAM),
    "team_log_signature": (STATE, _COMPARE_TEAM),
    "team_permission": (USAGE, "ask an admin or owner of the team"),
    "team_key": (STATE, "ask an admin of the team to rotate its key"),
    "team_key_check": (
        STATE,
        "ask an admin of the team to rotate its key; the server may be compromised",
    ),
    "stale_epoch": (STATE, _COMPARE_TEAM_VAULT),
    "team_vault_signature": (STATE, _COMPARE_TEAM_VAULT),
}


def cli_text(summary: str) -> str:
    """A summary as a CLI clause: lower-case start, no final full stop."""
    return summary[:1].lower() + summary[1:].removesuffix(".")


def translate(exc: Exception) -> CliError:
    code = str(getattr(exc, "code", "vault_error"))
    error_class = errors.ALL_ERRORS.get(code, errors.VaultError)
    exit_code, next_step = NEXT_STEPS.get(code, NEXT_STEPS["vault_error"])
    return CliError(f"{cli_text(error_class.summary)}; {next_step}", exit_code, code)
