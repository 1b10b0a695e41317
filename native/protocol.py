"""The agent protocol: one request and one response per connection.

Each message is a 4-byte big-endian length followed by that many bytes of a
UTF-8 JSON object. Requests carry ``op``; responses carry ``ok`` and either
the result fields or ``error`` (a stable code) and ``message``. Standard
library only, because the client side is on the fast ``get`` path.

The messages are what ``json.dumps(message, separators=(",", ":"))`` writes and
``json.loads`` reads, made by the C functions json itself calls (``_json``): importing
json imports ``re`` (and through it enum, functools, collections), which ``site`` loads
anyway but the ``-S`` helper and ``get`` (native/fast.py) would pay for, about half of
what they add to the bare interpreter (docs/performance.md, "Start-up without site").
Any message these do not take as they stand (another encoding, an error) goes to json,
so results and errors are json's.
"""

from __future__ import annotations

TYPE_CHECKING = False  # see native.consumers
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Conn(Protocol):
        """socket.socket or _socket.socket"""

        def sendall(self, data: bytes, /) -> None: ...

        def recv(self, size: int, /) -> bytes: ...


MAX_MESSAGE = 1 << 20
PROTOCOL_VERSION = 1
_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE


class _Decoding:
    """The settings json.JSONDecoder() hands the C scanner (json.loads' defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "-Infinity": float("-inf"),
        "Infinity": float("inf"),
        "NaN": float("nan"),
    }.__getitem__


def _not_serializable(o: object) -> None:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


try:
    from _json import encode_basestring_ascii, make_encoder, make_scanner

    _scan = make_scanner(_Decoding())  # type: ignore[arg-type]  # any object with these
    _C_JSON = True
except ImportError:  # not CPython: json itself
    _C_JSON = False


class ProtocolError(Exception):
    """The peer sent something that is not a valid message."""


def _dumps(message: dict[str, Any]) -> str:
    if not _C_JSON:
        import json

        return json.dumps(message, separators=(",", ":"))
    # json.JSONEncoder(separators=(",", ":")).encode's one-shot C encoder, with a fresh
    # dict of the containers being written (its circular-reference check), as json's.
    encode = make_encoder({}, _not_serializable, encode_basestring_ascii, None, ":", ",",
                          False, False, True)  # fmt: skip
    return "".join(encode(message, 0))


def _loads(data: bytes) -> Any:
    """json.loads(data) for UTF-8 JSON, as json does it; None for anything else (another
    encoding json would detect, or not JSON: json.loads says which)."""
    if not _C_JSON or data[:1] in (b"\x00", b"\xef", b"\xfe", b"\xff") or data[1:2] == b"\x00":
        return None  # json.detect_encoding may pick another encoding or find a BOM
    try:
        text = data.decode("utf-8", "surrogatepass")
        obj, end = _scan(text, len(text) - len(text.lstrip(_WHITESPACE)))
    except (StopIteration, ValueError):
        return None
    if text[end:].strip(_WHITESPACE):
        return None  # "Extra data"
    return obj


def send(sock: Conn, message: dict[str, Any]) -> None:
    body = _dumps(message).encode()
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
    data = _read_exactly(sock, size)
    message = _loads(data)
    if message is None:  # not what the agent sends: json decides, and names the error
        import json

        try:
            message = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not an object")
    return message
