"""How soon an unlocked agent sees a change made elsewhere, and a revocation.

Real processes: the OIDC provider, the server (SQLite), `zkvault connect`, `unlock` with
the default settings, and the owner writing through the API as the web app does. Each
edit adds an item; the figure is the time from the write's answer to the first `zkvault
get` of the new item that succeeds (polled every 50 ms). Then the machine is revoked;
the figure is the time until the agent process is gone.

    .venv/bin/python benchmarks/agent_sync.py [--edits 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.native.serverproc import Owner, start_server  # noqa: E402
from tests.native.support import make_env, stop_agent, wait_gone  # noqa: E402
from tests.native.test_server import connect, machine_id, new_vault  # noqa: E402
from vault_core import Item  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    server = start_server()
    env = make_env()
    try:
        owner = Owner(server)
        vault, _ = new_vault(owner)
        connect(env, owner, server.url)
        assert env.unlock().returncode == 0
        pid = env.agent_pid()
        assert pid is not None
        seen = []
        for n in range(args.edits):
            vault.add(Item(name=f"edit {n}", kind="generic", url="", secret=f"s{n}-" * 6))
            owner.put_vault(n + 1, vault.save())
            written = time.monotonic()
            while env.zk("get", f"edit {n}").returncode != 0:
                if time.monotonic() - written > 60:
                    raise SystemExit(f"edit {n} did not reach the agent in 60 s")
                time.sleep(0.05)
            seen.append(time.monotonic() - written)
            time.sleep(0.5)
        revoked = owner.call("DELETE", f"/api/machines/{machine_id(owner)}")
        assert revoked.status_code == 200
        started = time.monotonic()
        if not wait_gone(pid, 60):
            raise SystemExit("the agent was not wiped within 60 s")
        wiped = time.monotonic() - started
    finally:
        stop_agent(env)
        server.stop()
    print("| measured | median | max | n |")
    print("|---|---|---|---|")
    print(
        f"| edit → agent serves it | {statistics.median(seen):.2f} s | {max(seen):.2f} s "
        f"| {len(seen)} |"
    )
    print(f"| revoke → agent wiped | {wiped:.2f} s | {wiped:.2f} s | 1 |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
