"""A refresh whose answer is lost: the server rotated the token, the client never heard.
The client sends the same token again, proven by the same key; the server returns the
same successor, and the machine stays paired (docs/cli.md, "The agent").

The server's public URL is the forwarder's (as behind any proxy): DPoP proofs name it."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from pathlib import Path

import pytest

from tests.native.serverproc import Owner, Server
from tests.native.support import Env
from tests.native.test_server import connect, new_vault
from tests.support import processes

pytestmark = pytest.mark.slow


class LoseRefreshAnswers:
    """An HTTP forwarder (one request per connection, as the CLI's urllib makes them)
    that passes every request on, but swallows the answers to the first ``lose`` token
    refreshes and drops the connection instead. Records each refresh token sent."""

    def __init__(self, upstream_port: int, lose: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.lose = lose
        self.refresh_tokens: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            request = _read_request(client)
            head, _, body = request.partition(b"\r\n\r\n")
            is_refresh = head.startswith(b"POST /auth/token ")
            if is_refresh:
                token = json.loads(body).get("refresh_token")
                if token:
                    self.refresh_tokens.append(str(token))
            with socket.create_connection(self.upstream) as upstream:
                upstream.sendall(request)
                answer = b""
                while chunk := upstream.recv(65536):
                    answer += chunk
            if is_refresh and self.lose > 0:
                self.lose -= 1  # the server has rotated; the client hears nothing
                return
            client.sendall(answer)

    def close(self) -> None:
        self.listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_lost_refresh_answer_does_not_unpair(env: Env, tmp_path: Path) -> None:
    port = processes.free_port()
    proxy = LoseRefreshAnswers(port, lose=1)
    idp, idp_proc = processes.start_idp()
    started = processes.start_server(idp, tmp_path, port, ZKVAULT_PUBLIC_URL=proxy.url)
    # The owner talks to the server directly (the forwarder takes one request per
    # connection), naming the public URL in its proofs as a client behind it would.
    server = Server(started.url, idp, started.proc, idp_proc, tmp_path)
    try:
        owner = Owner(server, public_url=proxy.url)
        new_vault(owner)
        connect(env, owner, proxy.url)
        done = env.unlock()
        # The client sent the same refresh token again after the lost answer.
        assert len(proxy.refresh_tokens) >= 2
        assert proxy.refresh_tokens[0] == proxy.refresh_tokens[1]
        assert done.returncode == 0, done.stderr
        env.zk("lock", check=True)
        again = env.unlock()  # the successor it got back is the one the server keeps
        assert again.returncode == 0, again.stderr
    finally:
        proxy.close()
        processes.stop(started.proc)
        processes.stop(idp_proc)
