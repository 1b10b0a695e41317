"""A small JSON-over-HTTP client for the zkvault server (urllib: no extra dependency).

Only ``ApiError`` and ``CliError`` leave this module; response bodies are
parsed, never echoed into messages (they could hold tokens).
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from native.dpop import DpopKey
from native.errors import NETWORK, USAGE, CliError
from vault_core.b64url import b64url_decode, b64url_encode

__all__ = ["Api", "ApiError", "b64url_decode", "b64url_encode", "server_url"]

USER_AGENT = "zkvault-cli/0.1"


class ApiError(Exception):
    """The server answered with an error status and a typed body."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def server_url(explicit: str | None = None, remembered: str | None = None) -> str:
    """The server's base URL. Without a scheme, a loopback host (127.0.0.1, localhost, ::1)
    means http (a local server); any other host is refused with the https URL to use."""
    url = (explicit or os.environ.get("ZKVAULT_SERVER") or remembered or "").strip()
    if not url:
        raise CliError("no server given; pass --server URL or set ZKVAULT_SERVER", USAGE, "usage")
    if "://" not in url:
        host = _host_of("//" + url)
        if host is None:
            raise CliError(f"{url!r} is not a server URL; use https://host[:port]", USAGE, "usage")
        if host not in _LOOPBACK:
            raise CliError(
                f"server URL {url!r} has no scheme; use https://{url.rstrip('/')}",
                USAGE,
                "usage",
            )
        url = "http://" + url
    if not url.startswith(("https://", "http://")):
        raise CliError(f"server URL must start with https:// (got {url!r})", USAGE, "usage")
    host = _host_of(url)
    if host is None:
        raise CliError(f"{url!r} is not a server URL; use https://host[:port]", USAGE, "usage")
    if url.startswith("http://") and host not in _LOOPBACK:
        # Tokens would cross the network in clear: plain HTTP only for a local server.
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        netloc = parts.netloc.removesuffix(":80")  # http's default port is not https's
        secure = urllib.parse.urlunsplit(parts._replace(scheme="https", netloc=netloc))
        raise CliError(
            f"refusing plain http:// for {host} (tokens would cross the network in clear); "
            f"use {secure}",
            USAGE,
            "usage",
        )
    return url.rstrip("/")


def _host_of(url: str) -> str | None:
    """The host name of ``url`` (lower case), or None when it has none or a bad port."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts.hostname or None


class _ProofRefused(Exception):
    """The server refused the proof itself (dpop_invalid): made again once."""


class Api:
    """Every call carries a DPoP proof by `key` (the client's own); an access token goes
    as ``Authorization: DPoP``, never as a bearer token."""

    def __init__(self, base_url: str, key: DpopKey, timeout: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout or float(os.environ.get("ZKVAULT_HTTP_TIMEOUT", "10"))

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The decoded JSON object of a 2xx answer; ApiError for others;
        CliError(NETWORK) when the server cannot be reached."""
        try:
            return self._call(method, path, body, token, timeout)
        except _ProofRefused:
            # Most likely this machine's clock: the proof is made again on the server's
            # time (from its Date header). A refused proof spends nothing.
            try:
                return self._call(method, path, body, token, timeout)
            except _ProofRefused:
                raise ApiError(401, "dpop_invalid") from None

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        token: str | None,
        timeout: float | None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        # The proof names the URL as configured (the server's public URL) plus the path.
        headers["DPoP"] = self.key.proof(method, self.base_url + path, token or None)
        if token:
            headers["Authorization"] = f"DPoP {token}"
        request = urllib.request.Request(  # noqa: S310 - scheme checked in server_url
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            code = "http_error"
            try:
                parsed = json.loads(exc.read())
                if isinstance(parsed, dict) and isinstance(parsed.get("code"), str):
                    code = parsed["code"]
            except (ValueError, OSError):
                pass
            if exc.code == 401 and code == "dpop_invalid":
                self.key.learn_server_time(exc.headers.get("Date"))
                raise _ProofRefused from None
            if exc.code >= 500:
                raise CliError(
                    f"the server at {self.base_url} failed ({exc.code} {code}); try again later",
                    NETWORK,
                    "server_error",
                ) from None
            raise ApiError(exc.code, code) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(
                f"cannot reach the server at {self.base_url} ({reason}); check "
                "the network or ZKVAULT_SERVER",
                NETWORK,
                "unreachable",
            ) from None
        if not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise CliError(
                f"the server at {self.base_url} sent something that is not JSON",
                NETWORK,
                "bad_response",
            ) from None
        if not isinstance(parsed, dict):
            return {"items": parsed}
        return parsed
