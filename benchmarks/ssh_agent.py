"""zkvault's SSH agent vs OpenSSH's own: ``python benchmarks/ssh_agent.py [--runs N]``.

One run, on this machine, with real processes: an unlocked zkvault agent and OpenSSH's
``ssh-agent`` holding the same keys (100 Ed25519 keys, one of them the login key, and one
RSA 3072 key), and a throw-away sshd on a loopback port (tests/native/sshd.py). Measured
side by side, in paired rounds (load from other processes hits both alike):
- one signature (SSH_AGENTC_SIGN_REQUEST over a new connection, as ssh makes it, from this
  process, so no interpreter start is counted), Ed25519 and RSA (rsa-sha2-512);
- listing the 100 + 1 keys (SSH_AGENTC_REQUEST_IDENTITIES);
- a full ``ssh -T`` login to the local sshd, offering the one key through each agent.
Targets (docs/performance.md): one signature <= 2x OpenSSH's and <= 5 ms median; the
login within 10 %.

The benchmark writes the keys to a private temporary directory for ``ssh-add`` (OpenSSH's
agent takes keys from files) and deletes it at the end; zkvault's agent reads them from
its vault only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.cli import zkvault_command  # noqa: E402
from tests.native.sshd import start_sshd  # noqa: E402
from tests.support.processes import stop  # noqa: E402
from tests.vectors.sshkeys import RSA_3072  # noqa: E402
from vault_core import Item, KdfParams, Vault, sshkeys  # noqa: E402

PASSPHRASE = "benchmark passphrase, not secret"
KEYS = 100
RSA_SHA2_512 = 0x04


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _ask(path: str, body: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall(struct.pack(">I", len(body)) + body)
        return _recv(sock, struct.unpack(">I", _recv(sock, 4))[0])


def _sign(path: str, blob: bytes, flags: int) -> float:
    data = os.urandom(32)
    start = time.perf_counter()
    answer = _ask(path, bytes([13]) + _string(blob) + _string(data) + struct.pack(">I", flags))
    elapsed = (time.perf_counter() - start) * 1000
    assert answer[:1] == b"\x0e", answer[:1]
    return elapsed


def _list(path: str, count: int) -> float:
    start = time.perf_counter()
    answer = _ask(path, bytes([11]))
    elapsed = (time.perf_counter() - start) * 1000
    assert answer[:1] == b"\x0c" and struct.unpack(">I", answer[1:5])[0] == count
    return elapsed


def _login(options: list[str], agent: str, destination: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["ssh", "-T", *options, "-o", f"IdentityAgent={agent}", destination, "true"],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return (time.perf_counter() - start) * 1000


def _cpu_model() -> str:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    models = [ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln]
    return models[0] if models else "unknown CPU"


def _median_p90(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def _wait_socket(path: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("ssh-agent did not start")
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zks"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "GIT_"))}
    env |= {
        "HOME": str(root),
        "ZKVAULT_HOME": str(root / "state"),
        "ZKVAULT_KEY_DIR": str(root / "key"),
        "ZKVAULT_RUNTIME_DIR": str(root / "run"),
        "ZKVAULT_KEYRING": "off",
    }
    zk = zkvault_command()
    secrets = [sshkeys.generate_ed25519() for _ in range(KEYS)]
    sshd = start_sshd(root)
    openssh: subprocess.Popen[bytes] | None = None
    try:
        account = uuid.uuid4()
        vault = Vault.create(account, PASSPHRASE, kdf=KdfParams(ops=2, mem_kib=19456))
        for i, secret in enumerate(secrets):
            vault.add(Item(name=f"key {i:03d}", kind="ssh-key", url="", secret=secret))
        vault.add(Item(name="rsa", kind="ssh-key", url="", secret=RSA_3072))
        (root / "v.zkv").write_bytes(vault.save())
        vault.lock()
        for step, given in (
            (["import", str(root / "v.zkv"), "--account-id", str(account)], ""),
            (["unlock", "--passphrase-stdin"], PASSPHRASE + "\n"),
        ):
            subprocess.run(
                [*zk, *step], input=given, env=env, capture_output=True, text=True, check=True
            )
        ours = str(root / "run" / "ssh-agent.sock")

        theirs = str(root / "openssh-agent.sock")
        openssh = subprocess.Popen(["ssh-agent", "-D", "-a", theirs], stdout=subprocess.DEVNULL)
        _wait_socket(theirs, openssh)
        files = root / "keyfiles"
        files.mkdir(mode=0o700)
        paths = []
        for i, secret in enumerate([*secrets, RSA_3072]):
            path = files / f"k{i:03d}"
            path.write_text(secret)
            path.chmod(0o600)
            paths.append(str(path))
        subprocess.run(
            ["ssh-add", "-q", *paths],
            env={**env, "SSH_AUTH_SOCK": theirs},
            check=True,
            capture_output=True,
        )
        shutil.rmtree(files)

        login = sshkeys.parse_private(secrets[0])
        sshd.authorized_keys.write_text(login.public_line() + "\n")
        stub = root / "login.pub"
        stub.write_text(login.public_line() + "\n")
        options = [*sshd.client_options(with_key=False), "-i", str(stub)]
        options += ["-o", "IdentitiesOnly=yes"]
        rsa_blob = sshkeys.parse_private(RSA_3072).public_blob

        rows: dict[str, tuple[list[float], list[float]]] = {
            "one signature, Ed25519": ([], []),
            "one signature, RSA 3072 (rsa-sha2-512)": ([], []),
            f"list {KEYS + 1} keys": ([], []),
            "ssh -T login to a local sshd": ([], []),
        }
        for warm in range(3):  # the agent derives and caches public keys on its first list
            for agent in (ours, theirs):
                _list(agent, KEYS + 1), _sign(agent, login.public_blob, 0)
                if warm == 0:
                    _login(options, agent, sshd.destination)
        for _ in range(args.runs):
            for agent_index, agent in enumerate((ours, theirs)):
                measured = (
                    _sign(agent, login.public_blob, 0),
                    _sign(agent, rsa_blob, RSA_SHA2_512),
                    _list(agent, KEYS + 1),
                    _login(options, agent, sshd.destination),
                )
                for (_, pair), value in zip(rows.items(), measured, strict=True):
                    pair[agent_index].append(value)
        print(f"{_cpu_model()}, {os.cpu_count()} cores; {args.runs} paired rounds")
        header = f"{'':40} {'zkvault median/p90':>20} {'OpenSSH median/p90':>20} {'ratio':>6}"
        print(header)
        for label, (zk_samples, ossh_samples) in rows.items():
            zm, zp = _median_p90(zk_samples)
            om, op = _median_p90(ossh_samples)
            print(
                f"{label:40} {f'{zm:.2f} / {zp:.2f} ms':>20} "
                f"{f'{om:.2f} / {op:.2f} ms':>20} {zm / om:>5.2f}x"
            )
    finally:
        if openssh is not None:
            stop(openssh)
        stop(sshd.proc)
        subprocess.run([*zk, "lock"], env=env, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
