"""base64url for the API: vault_core's one strict implementation, under the server's names."""

from __future__ import annotations

from vault_core.b64url import Base64UrlError as EncodingError
from vault_core.b64url import b64url_decode, b64url_encode

__all__ = ["EncodingError", "b64url_decode", "b64url_encode"]
