"""`zkvault get` through a forwarded agent vs locally: ``python benchmarks/remote.py [--runs N]``.

One run, on this machine, with real processes: a throw-away sshd on a loopback port
(tests/native/sshd.py; openssh-server from scripts/bootstrap.sh), an unlocked agent,
and a `zkvault ssh` session whose builder is another HOME here. Measured side by side,
in paired rounds (load from other processes hits all three alike):
- `zkvault get` on the laptop, through its agent;
- `zkvault get` on the builder, through the forwarded socket (ssh and the scoped proxy);
- one SSH round trip: connect to a plain forwarded unix socket on the builder, send a
  small message, read the echo from the laptop (what any forwarded request must pay).
Also the same `get` request over the agent protocol from this process, through each
socket, which leaves out the interpreter's start (most of the time, and most of the noise
on a loaded machine).
Target: forwarded <= local + one SSH round trip + 10 ms (medians), for both.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.cli import zkvault_command  # noqa: E402
from tests.native.sshd import start_sshd  # noqa: E402
from vault_core import Item, KdfParams, Vault  # noqa: E402

PASSPHRASE = "benchmark passphrase, not secret"


def _echo_server(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            with conn:
                data = conn.recv(4096)
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()


def _round_trip(path: str) -> float:
    start = time.perf_counter()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall(b"x" * 64)
        assert sock.recv(4096)
    return (time.perf_counter() - start) * 1000


def _process(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def _request(path: str) -> float:
    """One `get` over the agent protocol, in this process: the socket path's own cost."""
    from native import protocol

    start = time.perf_counter()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        protocol.send(sock, {"v": 1, "op": "get", "name": "bench", "field": "secret"})
        assert protocol.receive(sock)["ok"]
    return (time.perf_counter() - start) * 1000


def _cpu_model() -> str:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    models = [ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln]
    return models[0] if models else "unknown CPU"


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def _session_socket(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("socket="):
        raise SystemExit(f"the session did not start: {line!r}")
    return line.strip().removeprefix("socket=")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zkr"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "GIT_"))}
    env |= {
        "HOME": str(root),
        "ZKVAULT_HOME": str(root / "state"),
        "ZKVAULT_KEY_DIR": str(root / "key"),
        "ZKVAULT_RUNTIME_DIR": str(root / "run"),
        "ZKVAULT_KEYRING": "off",
    }
    builder_home = root / "builder"
    builder_home.mkdir()
    zk = zkvault_command()
    sshd = start_sshd(root)
    procs: list[subprocess.Popen[str]] = []
    try:
        account = uuid.uuid4()
        vault = Vault.create(account, PASSPHRASE, kdf=KdfParams(ops=2, mem_kib=19456))
        vault.add(Item(name="bench", kind="generic", url="", secret="s-" + "q" * 40))
        (root / "v.zkv").write_bytes(vault.save())
        vault.lock()
        for step, given in (
            (["import", str(root / "v.zkv"), "--account-id", str(account)], ""),
            (["unlock", "--passphrase-stdin"], PASSPHRASE + "\n"),
        ):
            subprocess.run(
                [*zk, *step], input=given, env=env, capture_output=True, text=True, check=True
            )

        # Each session holds until its stdin closes (at the end), then cleans up remotely.
        hold = shlex.quote('echo "socket=$ZKVAULT_AGENT_SOCKET"; exec cat >/dev/null')
        session = [*zk, "ssh", "--allow", "bench", *sshd.client_options()]
        procs.append(
            subprocess.Popen(
                [*session, sshd.destination, "--", f"sh -c {hold}"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        forwarded = _session_socket(procs[-1])
        echo_local = str(root / "echo.sock")
        echo_remote = f"/tmp/zkvault-bench-echo-{uuid.uuid4().hex}.sock"
        _echo_server(echo_local)
        echo_hold = f"echo socket=ready; cat >/dev/null; rm -f {echo_remote}"
        procs.append(
            subprocess.Popen(
                [
                    "ssh",
                    "-R",
                    f"{echo_remote}:{echo_local}",
                    *sshd.client_options(),
                    sshd.destination,
                    echo_hold,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        _session_socket(procs[-1])
        builder_env = {
            "PATH": env["PATH"],
            "HOME": str(builder_home),
            "ZKVAULT_AGENT_SOCKET": forwarded,
        }
        local_cmd = [*zk, "get", "bench"]
        for _ in range(2):  # warm caches and connections
            _process(local_cmd, env), _process(local_cmd, builder_env), _round_trip(echo_remote)
        local_socket = str(root / "run" / "agent.sock")
        local, remote, rtt, extra, req_local, req_remote = [], [], [], [], [], []
        for _ in range(args.runs):
            a = _process(local_cmd, env)
            b = _process(local_cmd, builder_env)
            r = _round_trip(echo_remote)
            local.append(a)
            remote.append(b)
            rtt.append(r)
            extra.append(b - a - r)
            req_local.append(_request(local_socket))
            req_remote.append(_request(forwarded))
        model = _cpu_model()
        print(f"{model}, {os.cpu_count()} cores; {args.runs} paired rounds; {' '.join(zk)}")
        print(f"{'':44} {'median':>8} {'p90':>8}")
        rows = [
            ("zkvault get, laptop (local agent)", local),
            ("zkvault get, builder (forwarded, scoped)", remote),
            ("SSH round trip (forwarded echo)", rtt),
            ("forwarded - local - round trip (paired)", extra),
            ("get request only, laptop (no process start)", req_local),
            ("get request only, builder (forwarded)", req_remote),
        ]
        for label, samples in rows:
            median, p90 = _stats(samples)
            print(f"{label:44} {median:6.1f} ms {p90:6.1f} ms")
        for what, here, there in (
            ("process", local, remote),
            ("request only", req_local, req_remote),
        ):
            target = _stats(here)[0] + _stats(rtt)[0] + 10
            got = _stats(there)[0]
            verdict = "target met" if got <= target else "TARGET MISSED"
            print(
                f"{what}: forwarded median {got:.1f} ms vs local + round trip + 10 ms "
                f"= {target:.1f} ms: {verdict}"
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        subprocess.run([*zk, "lock"], env=env, capture_output=True, check=False)
        sshd.proc.terminate()
        sshd.proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
