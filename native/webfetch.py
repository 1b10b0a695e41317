"""GET as a browser would for `zkvault web verify`: gzip accepted (and undone), redirects
not followed (a redirect is an answer to compare, not a place to go), nothing sent but
the request line and a few plain headers (no cookie, no token)."""

from __future__ import annotations

import gzip
import http.client
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from email.message import Message

from native.errors import NETWORK, CliError

USER_AGENT = "zkvault-web-verify/0.1"


@dataclass(frozen=True)
class Got:
    status: int
    headers: dict[str, str]  # lower-case name -> value (repeated headers joined by ", ")
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def get(base: str, path: str) -> Got:
    """The answer to GET base+path, whatever its status; CliError(NETWORK) only when no
    answer came (refused, timed out, TLS failure)."""
    timeout = float(os.environ.get("ZKVAULT_HTTP_TIMEOUT", "10"))
    request = urllib.request.Request(  # noqa: S310 (base is checked to be http(s))
        base + path,
        headers={"Accept-Encoding": "gzip", "User-Agent": USER_AGENT, "Accept": "*/*"},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return _got(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return _got(exc.code, exc.headers, exc.read())
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise CliError(
            f"cannot reach {base} ({reason}); check the address and the network",
            NETWORK,
            "unreachable",
        ) from None


def _got(status: int, raw: Message[str, str], body: bytes) -> Got:
    headers: dict[str, str] = {}
    for name, value in raw.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            body = b"<undecodable gzip body>" + body
        del headers["content-encoding"]
    return Got(status, headers, body)
