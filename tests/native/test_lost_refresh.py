"""A refresh whose answer is lost: the server rotated the token, the client never heard.
The client sends the same token again, proven by the same key; the server returns the
same successor, and the machine stays paired (docs/cli.md, "The agent").

The server's public URL is the forwarder's (as behind any proxy): DPoP proofs name it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.native.serverproc import Owner, Server
from tests.native.support import Env
from tests.native.test_server import connect, new_vault
from tests.support import processes
from tests.support.httpproxy import Answer, HttpProxy, Lie, Request

pytestmark = pytest.mark.slow


def is_refresh(request: Request) -> bool:
    return (request.json() or {}).get("grant_type") == "refresh_token"


def lose_refresh_answers(count: int) -> Lie:
    """The first ``count`` token refreshes reach the server, which rotates the token; the
    answer is dropped with the connection, so the client hears nothing."""

    def drop(request: Request, answer: Answer) -> None:
        answer.dropped = True

    lie = Lie("lost refresh answer", "POST", "/auth/token", drop)
    lie.when = lambda request: is_refresh(request) and lie.fired < count
    return lie


def test_a_lost_refresh_answer_does_not_unpair(env: Env, tmp_path: Path) -> None:
    port = processes.free_port()
    proxy = HttpProxy(f"http://127.0.0.1:{port}")
    idp, idp_proc = processes.start_idp()
    started = processes.start_server(idp, tmp_path, port, ZKVAULT_PUBLIC_URL=proxy.url)
    # The owner talks to the server directly, naming the public URL in its proofs as a
    # client behind the proxy would.
    server = Server(started.url, idp, started.proc, idp_proc, tmp_path)
    try:
        owner = Owner(server, public_url=proxy.url)
        new_vault(owner)
        connect(env, owner, proxy.url)
        with proxy.telling(lose_refresh_answers(1)):
            done = env.unlock()
        sent = [e.request.json()["refresh_token"] for e in proxy.exchanges if is_refresh(e.request)]
        # The client sent the same refresh token again after the lost answer.
        assert len(sent) >= 2 and sent[0] == sent[1], len(sent)
        assert done.returncode == 0, done.stderr
        env.zk("lock", check=True)
        again = env.unlock()  # the successor it got back is the one the server keeps
        assert again.returncode == 0, again.stderr
    finally:
        proxy.cut()
        processes.stop(started.proc)
        processes.stop(idp_proc)
