"""The suite's one HTTP proxy: a reverse proxy on a free loopback port in front of one or
more real server processes. Tests point clients at it to

- capture every byte a client sent and received (the leak scans: ``mark``,
  ``seen_since``);
- make the server unreachable at a moment of their choosing (``cut``);
- spread requests over several instances, round robin and without stickiness, as a
  load balancer does (``add_upstream``);
- lie: rewrite the server's real answer on its way back, or drop it with the
  connection (``telling`` with ``Lie``; tests/hostile/lies.py has ready-made ones).

It forwards each request as it came (Host header included, so the server sees the
proxy's address) minus the hop-by-hop headers, and Accept-Encoding, so answers pass
uncompressed: lies rewrite plain bytes and the scans read them.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import itertools
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

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
        """The body as JSON, or None (empty, or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def bearer(self) -> str:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else ""


@dataclass
class Answer:
    """The server's answer on its way back; a lie may change any part of it, or drop it
    (the client's connection is then closed without an answer)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    dropped: bool = False

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
        return Answer(self.status, list(self.headers), self.body, self.dropped)


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
class HttpProxy:
    upstream: str  # the real server, http://127.0.0.1:PORT
    # Keep the body of a web-app asset (GET /assets/…) as its length only: the same built
    # file for everyone, megabytes of Pyodide that scanning after every case would cost
    # minutes and could only find what the server already had.
    abbreviate_assets: bool = False
    exchanges: list[Exchange] = field(default_factory=list)
    wire: bytearray = field(default_factory=bytearray)  # every byte received and sent
    active: list[Lie] = field(default_factory=list)
    # Which upstream (by index) takes a request; None: each in turn (round robin).
    route: Callable[[Request], int] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._upstreams = [self.upstream]
        self._turn = itertools.count()
        # No cookie jar: one client's cookies must never ride on another client's request.
        jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.Client(follow_redirects=False, timeout=60, cookies=jar)
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._closed = False
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def add_upstream(self, url: str) -> None:
        """Another instance: from now on requests go to each in turn."""
        with self._lock:
            self._upstreams.append(url)

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

    def cut(self) -> None:
        """The network goes down: new connections are refused and live ones dropped."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.drop_connections()
        self._client.close()

    close = cut

    # -- one request ---------------------------------------------------------------------

    def handle(self, request: Request, raw_request: bytes) -> Answer:
        with self._lock:
            turn = self.route(request) if self.route else next(self._turn)
            upstream = self._upstreams[turn % len(self._upstreams)]
        got = self._client.request(
            request.method,
            upstream + request.path + ("?" + request.query if request.query else ""),
            headers=[(k, v) for k, v in request.headers.items() if k not in _DROP_REQUEST],
            content=request.body,
        )
        answer = Answer(
            got.status_code,
            [(k, v) for k, v in got.headers.multi_items() if k.lower() not in _DROP_ANSWER],
            got.content,
        )
        with self._lock:
            lies = [lie for lie in self.active if lie.matches(request)]
        told = []
        for lie in lies:
            lie.rewrite(request, answer)
            lie.fired += 1
            told.append(lie.name)
        with self._lock:
            self.wire += raw_request + self._serialise(answer, request)
            self.exchanges.append(Exchange(request, answer.copy(), tuple(told)))
        return answer

    def _serialise(self, answer: Answer, request: Request) -> bytes:
        """The answer as sent (nothing, if dropped)."""
        if answer.dropped:
            return b""
        head = f"HTTP/1.1 {answer.status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in answer.headers)
        body = answer.body
        asset = request.method == "GET" and request.path.startswith("/assets/")
        if self.abbreviate_assets and asset and not request.query:
            body = f"<web-app asset, {len(body)} bytes>".encode()
        return head.encode("latin-1") + b"\r\n" + body


class _Server(ThreadingHTTPServer):
    """Keeps its live connections, so that ``cut`` can drop them."""

    def server_activate(self) -> None:
        self.live: set[socket.socket] = set()
        self.live_lock = threading.Lock()
        super().server_activate()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self.live_lock:
            self.live.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self.live_lock:
            self.live.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.live_lock:
            live, self.live = list(self.live), set()
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client dropping a kept-alive connection, or a cut, is not news


def _handler(proxy: HttpProxy) -> type[BaseHTTPRequestHandler]:
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
            except httpx.HTTPError:  # the server is unreachable: so is the proxy
                answer = Answer(502, [], b"", dropped=True)
            if answer.dropped:
                self.close_connection = True
                return
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
