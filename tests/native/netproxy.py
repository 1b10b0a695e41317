"""A loopback TCP forwarder that a test can cut, to make a server unreachable, and that
records every byte it carries (the wire capture of a client's HTTP traffic)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    """Forwards each new connection to the next of ``upstreams`` in turn (round robin, as
    a load balancer without stickiness does; one upstream: a plain forwarder)."""

    def __init__(self, upstream_port: int, *more_ports: int) -> None:
        self.upstreams = [("127.0.0.1", port) for port in (upstream_port, *more_ports)]
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.open = True
        self.captured = bytearray()  # both directions, as they passed
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            target = self.upstreams[self.connections % len(self.upstreams)]
            self.connections += 1
            try:
                upstream = socket.create_connection(target)
            except OSError:
                client.close()
                continue
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                with self._lock:
                    self.captured += data
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Refuse new connections and drop the live ones: the network is down."""
        self.open = False
        self.listener.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()
