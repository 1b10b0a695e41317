"""`zkvault ssh` from a CI job: no agent, a runner's grant answers the builder, narrowed
by the session's scope, against the real server, OIDC provider and sshd."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from native.runner import RunnerCredential
from tests.native.serverproc import Owner, Server, enrol_granted_runner, start_server
from tests.native.sshd import SSHD, Sshd, make_builder, start_sshd
from tests.native.support import (
    ITEMS,
    PROBE,
    REPO,
    Env,
    make_env,
    unprivileged,
    write_needles,
)
from tests.native.test_server import new_vault
from tests.support.processes import stop
from vault_core.b64url import b64url_encode

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(SSHD), reason="openssh-server missing: run scripts/bootstrap.sh"
    ),
    pytest.mark.slow,
]


# Token exchanges per address and rate window, lowered so that a builder spending them
# would run out within a test (the default is 600 per 10 minutes).
EXCHANGES = 40


@dataclass
class CiJob:
    job: Env  # the CI job's machine: a runner credential, no vault, no agent
    credential: str
    owner: Owner
    runner_id: str
    sshd: Sshd
    builder: Path
    spare: str  # the credential of a second runner, never revoked

    def zk(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.job.zk(*args, extra={"ZKVAULT_RUNNER_CREDENTIAL": self.credential})


@pytest.fixture(scope="module")
def ci() -> Iterator[CiJob]:
    server: Server = start_server(ZKVAULT_RATE_REFRESH_PER_IP=str(EXCHANGES))
    job = make_env()
    sshd = start_sshd(job.root)
    try:
        owner = Owner(server)
        vault, _ = new_vault(owner)
        credential, runner_id = enrol_granted_runner(
            job, owner, vault, server.url, "ci-ssh", ["github", "ci token"]
        )
        spare, _ = enrol_granted_runner(job, owner, vault, server.url, "ci-spare", ["ci token"])
        vault.lock()
        yield CiJob(job, credential, owner, runner_id, sshd, make_builder(job.root), spare)
    finally:
        stop(sshd.proc)
        server.stop()
        shutil.rmtree(job.root, ignore_errors=True)


def test_an_item_outside_the_grant_cannot_be_shared(ci: CiJob) -> None:
    done = ci.zk("ssh", "--allow", "deploy", *ci.sshd.client_options(), ci.sshd.destination)
    assert done.returncode == 4
    assert done.stderr.strip() == (
        "zkvault: no item named 'deploy' to allow; `zkvault list` shows the names"
    )


def test_builder_gets_the_shared_part_of_the_grant_until_revoked(ci: CiJob) -> None:
    env_sh = ci.builder / "bin" / "env.sh"
    once = shlex.quote(
        'zkvault get "ci token"; echo "shared=$?"; zkvault get github; echo "granted=$?"'
    )
    seen = ci.job.root / "authorize-env"
    looked = ci.job.root / "authorize-probe"
    decoded = RunnerCredential.decode(ci.credential)
    needles = write_needles(
        ci.job.root, [ci.credential, decoded.credential, b64url_encode(decoded.seed)]
    )
    # The --authorize command looks at its parent, `zkvault ssh`, as a same-user process.
    authorize = (
        f"env > {seen}; {sys.executable} {PROBE} {needles} $PPID > {looked}; "
        f"cat >> {ci.sshd.authorized_keys}"
    )
    done = subprocess.run(
        [
            *(*unprivileged(), sys.executable, "-m", "native", "ssh", "--allow", "ci token"),
            *("--session-key", "--authorize", authorize),
            *ci.sshd.client_options(with_key=False),
            *(ci.sshd.destination, "--", f"{env_sh} sh -c {once}"),
        ],
        env={**ci.job.vars, "ZKVAULT_RUNNER_CREDENTIAL": ci.credential},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The runner credential stays in `zkvault ssh`: not in ssh's or --authorize's environment.
    assert "ZKVAULT_SSH_PUBLIC_KEY=ssh-ed25519 " in seen.read_text()
    assert ci.credential not in seen.read_text() and "ZKVAULT_" not in seen.read_text().replace(
        "ZKVAULT_SSH_PUBLIC_KEY", ""
    )
    # Nor can --authorize read it from `zkvault ssh` itself: environment, memory, descriptors.
    parent = json.loads(looked.read_text())
    assert (parent["environ"], parent["mem"]) == ("PermissionError", "PermissionError"), parent
    assert not any(str(v).startswith("LEAK") for v in parent["fd"].values()), parent
    secret = {i.name: i.secret for i in ITEMS}["ci token"]
    assert done.stdout.splitlines() == [secret, "shared=0", "granted=10"]
    assert done.stderr == "zkvault: not shared with this zkvault ssh session\n"

    hold = shlex.quote('echo "socket=$ZKVAULT_AGENT_SOCKET"; exec cat >/dev/null')
    session = subprocess.Popen(
        [
            *(sys.executable, "-m", "native", "ssh", "--allow", "ci token"),
            *(*ci.sshd.client_options(), ci.sshd.destination, "--", f"{env_sh} sh -c {hold}"),
        ],
        env={**ci.job.vars, "ZKVAULT_RUNNER_CREDENTIAL": ci.credential},
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout is not None
        socket = session.stdout.readline().strip().removeprefix("socket=")

        def on_builder() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(env_sh), "zkvault", "get", "ci token"],
                env={"PATH": "/usr/bin:/bin", "ZKVAULT_AGENT_SOCKET": socket},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        assert on_builder().stdout.strip() == secret
        assert ci.owner.call("DELETE", f"/api/runners/{ci.runner_id}").status_code == 200
        revoked = on_builder()
        assert revoked.returncode == 8, revoked.stderr  # the grant is fetched per request
        assert "revoked" in revoked.stderr and revoked.stdout == ""
    finally:
        session.terminate()
        session.communicate(timeout=30)


def test_a_builder_cannot_spend_the_jobs_own_token_exchanges(ci: CiJob) -> None:
    """The server limits token exchanges per address; the builder's requests reuse the
    session's one access token, so after more requests than that limit the CI job's own
    `get` is still answered."""
    env_sh = ci.builder / "bin" / "env.sh"
    asks = EXCHANGES + 10  # within the session's own burst
    many = shlex.quote(
        f'i=0; while [ $i -lt {asks} ]; do zkvault get "ci token" >/dev/null || exit 1; '
        'i=$((i+1)); done; echo "asked=$i"'
    )
    done = ci.job.zk(
        "ssh", "--allow", "ci token", *ci.sshd.client_options(), ci.sshd.destination,
        "--", f"{env_sh} sh -c {many}",
        extra={"ZKVAULT_RUNNER_CREDENTIAL": ci.spare}, timeout=180,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, f"asked={asks}\n"), done.stderr
    own = ci.job.zk("get", "ci token", extra={"ZKVAULT_RUNNER_CREDENTIAL": ci.spare})
    secret = {i.name: i.secret for i in ITEMS}["ci token"]
    assert (own.returncode, own.stdout) == (0, secret + "\n"), own.stderr
