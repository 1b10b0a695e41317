"""Real processes for end-to-end tests: the OIDC provider and the zkvault server.

Both run as their own OS processes on free loopback ports, exactly as in development
(`make run`): nothing is faked in-process.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each stays bound until all are chosen, so the kernel
    cannot hand the same one out twice (calling free_port() in a loop can)."""
    held = [socket.socket() for _ in range(count)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before serving {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_idp(*options: str, clock: str | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """oidc-provider-mock on a free loopback port; ``options`` are its own flags;
    ``clock`` runs it on a faked wall clock (see faketime_env)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oidc_provider_mock",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *options,
        ],
        env={**os.environ, **(faketime_env(clock) if clock else {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/.well-known/openid-configuration", proc)
    return url, proc


def start_certified_idp(
    client_id: str, client_secret: str, redirect_uri: str
) -> tuple[str, subprocess.Popen[bytes]]:
    """panva's certified ``oidc-provider`` (npm, pinned) on a free loopback port, with one
    confidential client: it sends profile and email claims only from UserInfo."""
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(ROOT / "tests" / "support" / "oidc_provider.mjs")],
        env={
            **os.environ,
            "PORT": str(port),
            "CLIENT_ID": client_id,
            "CLIENT_SECRET": client_secret,
            "REDIRECT_URI": redirect_uri,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/.well-known/openid-configuration", proc)
    return url, proc


def certified_idp_authorize(authorize_url: str, login: str, redirect_base: str) -> str:
    """A person at the certified provider's development pages: signs in as ``login``,
    consents, and is sent back; returns the redirect to ``redirect_base`` (with the code)."""
    import html
    import re

    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        response = browser.get(authorize_url)
        for _ in range(12):  # login page, consent page, and the redirects between them
            if response.is_redirect:
                location = str(response.url.join(response.headers["location"]))
                if location.startswith(redirect_base):
                    return location
                response = browser.get(location)
                continue
            assert response.status_code == 200, response.text[:500]
            action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            assert action, response.text[:500]
            fields = dict(
                re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text)
            )
            if 'name="login"' in response.text:
                fields |= {"login": login, "password": "any"}
            response = browser.post(html.unescape(action.group(1)), data=fields)
    raise AssertionError("the provider did not send the browser back")


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen[bytes]
    database: Path
    log: Path


FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def faketime_env(offset: str) -> dict[str, str]:
    """Environment that runs a process on a shifted wall clock (libfaketime, from
    scripts/bootstrap.sh), e.g. offset "+60s" or "-60s", or on one that starts at a
    fixed moment and runs on from there ("@2026-06-01 09:30:00"). Monotonic clocks
    stay real."""
    if not FAKETIME_LIB.is_file():
        raise RuntimeError(f"{FAKETIME_LIB} is missing: run scripts/bootstrap.sh (libfaketime)")
    return {
        "LD_PRELOAD": str(FAKETIME_LIB),
        "FAKETIME": offset,
        "TZ": "UTC",  # an absolute start is read as local time
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


def start_server(
    idp: str,
    workdir: Path,
    port: int | None = None,
    *,
    clock_offset: str | None = None,
    **env_overrides: str,
) -> ServerProcess:
    """`zkvault-server serve --migrate` in development mode, SQLite in workdir.

    ``port`` restarts a server where its clients expect it (after a kill);
    ``clock_offset`` ("+60s", or "@2026-06-01 09:30:00" for a fixed start) runs it on a
    faked clock (see faketime_env)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    database = workdir / "zkvault.sqlite3"
    log = workdir / "server.log"
    # The developer's own ZKVAULT_* settings must not reach the server under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZKVAULT_")}
    env |= {
        "ZKVAULT_ENVIRONMENT": "development",
        "ZKVAULT_PUBLIC_URL": url,
        "ZKVAULT_PORT": str(port),
        "ZKVAULT_DATABASE_URL": f"sqlite:///{database}",
        "ZKVAULT_OIDC_ISSUER": idp,
        "ZKVAULT_OIDC_CLIENT_ID": "zkvault-e2e",
        "ZKVAULT_COOKIE_SECURE": "false",
        "ZKVAULT_SIGNING_KEYS": f'["{secrets.token_urlsafe(32)}"]',
        # Instances of one deployment must share this (and the signing keys): pass both.
        "ZKVAULT_TOKEN_SECRETS": f'["{secrets.token_urlsafe(32)}"]',
        **env_overrides,
        **(faketime_env(clock_offset) if clock_offset else {}),
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.main", "serve", "--migrate"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"{url}/healthz", proc, timeout=60)
    except RuntimeError:
        stop(proc)
        raise RuntimeError(log.read_text(errors="replace")[-3000:]) from None
    return ServerProcess(url, proc, database, log)
