"""The hostile layer: an HTTP reverse proxy on a free loopback port in front of the real
server. Clients only ever talk to it (the server's public_url is the proxy's URL, so OIDC
redirects, cookies and the browser's origin all go through it). Each answer from the
server passes the lies that are switched on, which may rewrite it; every byte the proxy
received and sent is kept for the leak scan at the end of each case.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# Hop-by-hop headers, and the ones the proxy sets itself. Accept-Encoding is dropped so
# the server answers uncompressed: lies then rewrite plain bytes, and the leak scan reads them.
_DROP_REQUEST = {"connection", "keep-alive", "transfer-encoding", "content-length", "te"}
_DROP_REQUEST |= {"accept-encoding", "upgrade", "proxy-connection"}
_DROP_ANSWER = {"connection", "keep-alive", "transfer-encoding", "content-length"}
_DROP_ANSWER |= {"content-encoding"}


@dataclass(frozen=True)
class Request:
    """What a client sent, as the lies see it."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def bearer(self) -> str:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else ""


@dataclass
class Answer:
    """The server's answer on its way back; a lie may change any part of it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def set_json(self, value: Any) -> None:
        self.body = json.dumps(value).encode()
        self.set_header("content-type", "application/json")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def copy(self) -> Answer:
        return Answer(self.status, list(self.headers), self.body)


@dataclass(eq=False)
class Lie:
    """One lie: which requests it answers (method, a regular expression the whole path must
    match, and an optional test of the request, say whose token it carries) and how it
    rewrites the server's answer. ``fired`` counts the answers it changed."""

    name: str
    method: str
    path: str
    rewrite: Callable[[Request, Answer], None]
    when: Callable[[Request], bool] = lambda request: True
    fired: int = 0

    def matches(self, request: Request) -> bool:
        return (
            request.method == self.method
            and re.fullmatch(self.path, request.path) is not None
            and self.when(request)
        )


@dataclass(frozen=True)
class Exchange:
    request: Request
    answer: Answer
    lies: tuple[str, ...]  # names of the lies that rewrote this answer


@dataclass
class HostileProxy:
    upstream: str  # the real server, http://127.0.0.1:PORT
    exchanges: list[Exchange] = field(default_factory=list)
    wire: bytearray = field(default_factory=bytearray)  # every byte received and sent
    active: list[Lie] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, follow_redirects=False, timeout=60)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @contextlib.contextmanager
    def telling(self, *lies: Lie) -> Iterator[tuple[Lie, ...]]:
        """Switch lies on for the block. A lie that never fired proved nothing: that fails
        the test rather than letting it pass untried."""
        with self._lock:
            self.active.extend(lies)
        try:
            yield lies
        finally:
            with self._lock:
                self.active = [lie for lie in self.active if lie not in lies]
        idle = [lie.name for lie in lies if not lie.fired]
        assert not idle, f"lies never told (no matching request): {idle}"

    def mark(self) -> int:
        """A position in the capture; ``seen_since`` gives what passed after it."""
        with self._lock:
            return len(self.wire)

    def seen_since(self, mark: int = 0) -> bytes:
        with self._lock:
            return bytes(self.wire[mark:])

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._client.close()

    # -- one request ---------------------------------------------------------------------

    def handle(self, request: Request, raw_request: bytes) -> Answer:
        upstream = self._client.request(
            request.method,
            request.path + ("?" + request.query if request.query else ""),
            headers=[(k, v) for k, v in request.headers.items() if k not in _DROP_REQUEST],
            content=request.body,
        )
        answer = Answer(
            upstream.status_code,
            [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _DROP_ANSWER],
            upstream.content,
        )
        with self._lock:
            lies = [lie for lie in self.active if lie.matches(request)]
        told = []
        for lie in lies:
            lie.rewrite(request, answer)
            lie.fired += 1
            told.append(lie.name)
        with self._lock:
            self.wire += raw_request + _serialise(answer)
            self.exchanges.append(Exchange(request, answer.copy(), tuple(told)))
        return answer


def _serialise(answer: Answer) -> bytes:
    head = f"HTTP/1.1 {answer.status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in answer.headers)
    return head.encode("latin-1") + b"\r\n" + answer.body


def _handler(proxy: HostileProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            request = Request(
                self.command,
                path,
                query,
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            raw = (self.requestline + "\r\n" + str(self.headers)).encode("latin-1") + body
            try:
                answer = proxy.handle(request, raw)
            except httpx.HTTPError:
                answer = Answer(502, [("content-type", "text/plain")], b"upstream unreachable")
            self.send_response_only(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the capture is the record; nothing on stderr

    return Handler
