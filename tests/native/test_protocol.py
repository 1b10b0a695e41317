"""The agent protocol's messages are json's, byte for byte, without importing json.

native.protocol writes and reads them with the C functions json uses (``_json``), so that
the ``-S`` hot paths (native/fast.py) do not import json and, through it, ``re``. These
hold it to json itself: the same bytes out, the same objects in, json's errors on
anything else.
"""

from __future__ import annotations

import _socket
import json
import math
import subprocess
import sys

import pytest

from native import protocol
from tests.native.support import REPO

MESSAGES: list[dict[str, object]] = [
    {"v": 1, "op": "credential", "protocol": "https", "host": "git.example:8443", "path": None},
    {"ok": True, "username": "oauth2", "password": "glpat-" + "x" * 20},
    {"ok": False, "error": "no_match", "message": "no item matches https://h"},
    {"s": 'quote " backslash \\ controls \x00\x1f\n\t\r\b\f del \x7f', "e": ""},
    {"u": "é ü 中文 \u2028 \u2029 emoji \U0001f511 lone \ud800", "k\u00e9y": "v"},
    {"n": [0, -1, 10**30, 1.5, -0.0, 1e-300, 1e308, True, False, None, [], {}]},
    {"nested": {"a": [{"b": [{"c": {}}]}]}, "big": "v" * 5000},
    {"inf": math.inf, "ninf": -math.inf},
]


def _pair() -> tuple[_socket.socket, _socket.socket]:
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    return a, b


@pytest.mark.parametrize("message", MESSAGES)
def test_messages_are_json_dumps_bytes_and_read_as_json_loads(message: dict[str, object]) -> None:
    a, b = _pair()
    try:
        protocol.send(a, message)
        size = int.from_bytes(b.recv(4), "big")
        body = b.recv(size)
        assert body == json.dumps(message, separators=(",", ":")).encode()
        a.sendall(size.to_bytes(4, "big") + body)
        got = protocol.receive(b)
    finally:
        a.close()
        b.close()
    assert repr(got) == repr(json.loads(body))


def _received(body: bytes) -> object:
    a, b = _pair()
    try:
        a.sendall(len(body).to_bytes(4, "big") + body)
        return protocol.receive(b)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(
    "body",
    [
        b' \n{"a": NaN, "b": [1, 2.50]}\t\r\n',  # whitespace and json's constants
        '{"a":"é"}'.encode("utf-16-le"),  # json detects UTF-16 and UTF-32
        '{"a":"é"}'.encode("utf-32"),
        b'\xef\xbb\xbf{"a":1}',  # a UTF-8 BOM
    ],
)
def test_what_json_reads_is_read_alike(body: bytes) -> None:
    assert repr(_received(body)) == repr(json.loads(body))


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"a":1} x', b'{"a":1}{}', b"{'a':1}", b'{"a":"\xff"}', b'{"a":"\x01"}'],
)
def test_what_json_refuses_is_refused(body: bytes) -> None:
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        json.loads(body)
    with pytest.raises(protocol.ProtocolError, match="not JSON"):
        _received(body)


def test_not_an_object_is_refused() -> None:
    for body in (b"[1]", b"null", b'"s"'):
        with pytest.raises(protocol.ProtocolError, match="not an object"):
            _received(body)


def test_what_json_cannot_write_fails_as_in_json() -> None:
    a, b = _pair()
    try:
        with pytest.raises(TypeError, match="Object of type bytes is not JSON serializable"):
            protocol.send(a, {"x": b"raw"})
        loop: dict[str, object] = {}
        loop["self"] = loop
        with pytest.raises(ValueError, match="Circular reference"):
            protocol.send(a, loop)
        protocol.send(a, {"after": "a failed one"})  # no state left from the failures
        assert protocol.receive(b) == {"after": "a failed one"}
    finally:
        a.close()
        b.close()


def test_the_protocol_does_not_import_json() -> None:
    code = "import sys; import native.protocol; print('json' in sys.modules, 're' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]
