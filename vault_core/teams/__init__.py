"""Teams (format.md §15, docs/teams.md): identities, the signed membership log, team key
boxes. Standard library and the backend only: the server imports ``parse_entry``,
``apply`` and ``replay`` to check an append before storing it; clients are the real check.
"""

from __future__ import annotations

from .entries import (
    ENTRY_MAX_BYTES,
    MAX_MEMBERS,
    ROLES,
    LogEntry,
    MemberSpec,
    entry_hash,
    parse_entry,
    sign_entry,
)
from .identity import (
    IDENTITY_BYTES,
    Identity,
    IdentityKeys,
    identity_fingerprint,
    parse_identity,
)
from .keybox import TEAM_KEY_BOX_BYTES, key_check, new_team_key, open_team_key, seal_team_key
from .ops import add_entry, create_entry, leave_entry, remove_entry, role_entry, rotate_entry
from .state import RANK, Member, TeamState, apply, replay, replay_states
from .teamvault import TeamMemory, TeamVault, check_log_memory
from .tvformat import TeamPublicHeader, peek_team_header

# TeamSession (vault_core.teams.session) is not imported here: it uses the personal Vault,
# which imports this package for the identity records.

__all__ = [
    "ENTRY_MAX_BYTES",
    "IDENTITY_BYTES",
    "MAX_MEMBERS",
    "RANK",
    "ROLES",
    "TEAM_KEY_BOX_BYTES",
    "Identity",
    "IdentityKeys",
    "LogEntry",
    "Member",
    "MemberSpec",
    "TeamMemory",
    "TeamPublicHeader",
    "TeamState",
    "TeamVault",
    "add_entry",
    "apply",
    "check_log_memory",
    "create_entry",
    "entry_hash",
    "identity_fingerprint",
    "key_check",
    "leave_entry",
    "new_team_key",
    "open_team_key",
    "parse_entry",
    "parse_identity",
    "peek_team_header",
    "remove_entry",
    "replay",
    "replay_states",
    "role_entry",
    "rotate_entry",
    "seal_team_key",
    "sign_entry",
]
