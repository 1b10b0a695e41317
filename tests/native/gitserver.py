"""A tiny smart-HTTP git server for tests: git http-backend behind Basic auth.

Listens on 127.0.0.1 only. Every request must carry Basic credentials whose
password is the expected token; otherwise 401 with a WWW-Authenticate
challenge, which is what makes git ask its credential helper.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

BACKEND = "/usr/lib/git-core/git-http-backend"


class _Handler(BaseHTTPRequestHandler):
    root: ClassVar[Path]
    token: ClassVar[str]
    seen: ClassVar[list[tuple[str, str, bool]]]

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _authorised(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if password == self.token else None

    def _serve(self) -> None:
        user = self._authorised()
        path, _, query = self.path.partition("?")
        self.seen.append((self.command, path, user is not None))
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="zkvault-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            [BACKEND], input=body, env=env, capture_output=True, check=False, timeout=60
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            key, _, value = line.decode().partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class GitServer:
    def __init__(self, root: Path, token: str) -> None:
        handler: type[_Handler] = type(
            "Handler", (_Handler,), {"root": root, "token": token, "seen": []}
        )
        self.handler = handler
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self) -> list[tuple[str, str, bool]]:
        return self.handler.seen

    def __enter__(self) -> GitServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
