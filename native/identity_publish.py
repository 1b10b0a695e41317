"""On unlock: the personal vault gets an identity (made once, saved like any change) and
the server gets its public bundle (docs/teams.md, "Identity").

A bundle the server serves for this account that is not the vault's own is never
replaced silently: it is said, on stderr and in `zkvault status`, since only the server
or someone who took over the account could have put it there.
"""

from __future__ import annotations

from typing import Any

from native.api import ApiError, b64url_decode, b64url_encode
from native.errors import CliError


def ensure_published(vault: Any, writer: Any) -> list[str]:
    """What to warn about (never a secret); failures here do not stop the unlock."""
    try:
        if vault.identity_keys() is None:
            writer.save_change(vault, lambda held: held.ensure_identity())
        keys = vault.identity_keys()
        mine = keys.bundle()
        served: bytes | None = None
        try:
            found = writer.call("GET", f"/api/identity/{keys.account_id}")
            served = b64url_decode(str(found.get("bundle", "")))
        except ApiError as exc:
            if exc.status != 404:
                raise
        warnings = []
        if served == mine:
            return []
        if served is not None:
            warnings.append(
                "the server held another identity key for your account than your vault's; "
                "yours was published again. If you did not reset it, the server may be "
                "compromised: ask your teams to compare your safety number (`zkvault identity`)"
            )
        writer.call("PUT", "/api/identity", {"bundle": b64url_encode(mine)})
        return warnings
    except ApiError as exc:
        return [f"could not publish your identity key ({exc.status} {exc.code})"]
    except CliError as exc:
        return [f"could not publish your identity key ({exc.code}): {exc.message}"]
    except Exception as exc:
        return [f"could not set up your identity key ({getattr(exc, 'code', type(exc).__name__)})"]
