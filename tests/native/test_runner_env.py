"""A runner's credential stays in the runner: `zkvault run` hands the command neither the
credential nor any other ZKVAULT_* variable, not even through its parent's /proc entry,
and masks the credential, its key seed and every secret in their encoded forms."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from native.runner import RunnerCredential
from tests.native.serverproc import Owner, Server, enrol_granted_runner, start_server
from tests.native.support import ITEMS, Env
from tests.native.test_server import new_vault
from tests.support.leaks import scan
from vault_core.b64url import b64url_encode

pytestmark = pytest.mark.slow

# Prints everything a build step could look at: its environment and its parent's.
PROBE = """
import json, os, sys
parent = open(f"/proc/{os.getppid()}/environ", "rb").read() if os.access(
    f"/proc/{os.getppid()}/environ", os.R_OK) else b"<unreadable>"
print(json.dumps({"env": dict(os.environ), "parent": parent.decode("latin-1")}))
"""


@pytest.fixture(scope="module")
def runner() -> Iterator[tuple[Server, str]]:
    """A server and the credential of a runner granted the `github` item."""
    from tests.native.support import make_env

    server = start_server()
    try:
        owner = Owner(server)
        vault, _ = new_vault(owner)
        credential, _ = enrol_granted_runner(
            make_env(), owner, vault, server.url, "ci-env", ["github"]
        )
        yield server, credential
    finally:
        server.stop()


def test_run_hands_the_command_no_credential_in_any_form(
    env: Env, runner: tuple[Server, str]
) -> None:
    _, credential = runner
    ran = env.zk(
        "run",
        "--no-mask",
        "--",
        sys.executable,
        "-c",
        PROBE,
        extra={"ZKVAULT_RUNNER_CREDENTIAL": credential},
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert [k for k in seen["env"] if k.startswith("ZKVAULT_")] == []
    assert seen["env"]["GITHUB"] == ITEMS[0].secret  # the secret asked for is there
    decoded = RunnerCredential.decode(credential)
    # Everything the command could read, searched in every encoding the scanner knows.
    hits = scan(
        {"child env": json.dumps(seen["env"]).encode(), "parent": seen["parent"].encode()},
        {
            "credential": credential.encode(),
            "server credential": decoded.credential.encode(),
            "seed": decoded.seed,
        },
    )
    assert hits == [], hits


def test_run_masks_secrets_and_the_credential_in_encoded_forms(
    env: Env, runner: tuple[Server, str]
) -> None:
    _, credential = runner
    token = ITEMS[0].secret
    seed = RunnerCredential.decode(credential).seed
    script = (
        "import base64, os, sys, urllib.parse\n"
        "t = os.environ['GITHUB'].encode()\n"
        "print(base64.b64encode(b'x-access-token:' + t).decode())\n"
        "print(urllib.parse.quote(t.decode() + '/&=', safe=''))\n"
        f"print({credential!r})\n"
        f"print({b64url_encode(seed)!r}, {seed.hex()!r})\n"
    )
    ran = env.zk(
        "run",
        "--",
        sys.executable,
        "-c",
        script,
        extra={"ZKVAULT_RUNNER_CREDENTIAL": credential},
    )
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout.encode()
    for leaked in (
        base64.b64encode(token.encode())[4:-4],
        quote(token, safe="").encode(),
        credential.encode(),
        b64url_encode(seed).encode(),
        seed.hex().encode(),
    ):
        assert leaked not in out, ran.stdout
    assert out.count(b"****") >= 5
