"""The agent protocol: one request and one response per connection.

Each message is a 4-byte big-endian length followed by that many bytes of a
UTF-8 JSON object. Requests carry ``op``; responses carry ``ok`` and either
the result fields or ``error`` (a stable code) and ``message``. Standard
library only, because the client side is on the fast ``get`` path.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # see native.consumers
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Conn(Protocol):
        """socket.socket or _socket.socket"""

        def sendall(self, data: bytes, /) -> None: ...

        def recv(self, size: int, /) -> bytes: ...


MAX_MESSAGE = 1 << 20
PROTOCOL_VERSION = 1


class ProtocolError(Exception):
    """The peer sent something that is not a valid message."""


def send(sock: Conn, message: dict[str, Any]) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE:
        raise ProtocolError("message too large")
    sock.sendall(len(body).to_bytes(4, "big") + body)


def _read_exactly(sock: Conn, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ProtocolError("connection closed mid-message")
        chunks += chunk
    return bytes(chunks)


def receive(sock: Conn) -> dict[str, Any]:
    size = int.from_bytes(_read_exactly(sock, 4), "big")
    if size > MAX_MESSAGE:
        raise ProtocolError("message too large")
    try:
        message = json.loads(_read_exactly(sock, size))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not an object")
    return message
