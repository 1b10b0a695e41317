"""``zkvault run``: secrets in the child's environment, masked in its output."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

from tests.native.support import REPO, Env, VaultFile

CHILD = [sys.executable, "-c"]


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_env_and_masking(env: Env, unlocked: VaultFile) -> None:
    script = (
        "import hashlib, os, sys, time\n"
        "t = os.environ['TOKEN']\n"
        "print('sha', hashlib.sha256(t.encode()).hexdigest())\n"
        "print('out', t, 'end', flush=True)\n"
        "sys.stdout.write(t[:5]); sys.stdout.flush(); time.sleep(0.1)\n"
        "sys.stdout.write(t[5:] + '|split\\n'); sys.stdout.flush()\n"
        "print('err', t, file=sys.stderr)\n"
    )
    done = env.zk("run", "--env", "TOKEN=github", "--", *CHILD, script)
    secret = unlocked.secrets["github"]
    assert done.returncode == 0, done.stderr
    assert f"sha {_sha(secret)}\n" in done.stdout  # the child really had the secret
    assert "out **** end\n" in done.stdout
    assert "****|split\n" in done.stdout
    assert done.stderr == "err ****\n"
    assert secret not in done.stdout + done.stderr


def test_default_exports_every_item_under_its_name(env: Env, unlocked: VaultFile) -> None:
    names = "('GITHUB', 'CI_TOKEN', 'DEPLOY')"
    script = f"import os; print(sorted(k for k in os.environ if k in {names}))"
    done = env.zk("run", "--", *CHILD, script)
    assert done.stdout == "['CI_TOKEN', 'DEPLOY', 'GITHUB']\n"


def test_exit_status_is_the_childs(env: Env, unlocked: VaultFile) -> None:
    assert env.zk("run", "--", *CHILD, "raise SystemExit(7)").returncode == 7
    killed = env.zk("run", "--", *CHILD, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.returncode == 128 + signal.SIGKILL


def test_signals_are_forwarded(env: Env, unlocked: VaultFile) -> None:
    script = (
        "import signal, sys, time\n"
        "def bye(n, f):\n"
        "    print('child got', n, flush=True); sys.exit(42)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "native", "run", "--", *CHILD, script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env.vars,
        cwd=REPO,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert out == f"child got {int(signal.SIGTERM)}\n"
    assert proc.returncode == 42


def test_missing_command_and_bad_env_spec(env: Env, unlocked: VaultFile) -> None:
    assert env.zk("run", "--").returncode == 2
    bad = env.zk("run", "--env", "1X=github", "--", "true")
    assert bad.returncode == 2 and "VAR=ITEM" in bad.stderr
    missing = env.zk("run", "--env", "X=nope", "--", "true")
    assert missing.returncode == 4
    notfound = env.zk("run", "--", "/nonexistent/cmd")
    assert notfound.returncode == 4 and "command not found" in notfound.stderr


def test_locked_vault_runs_nothing(env: Env, imported: VaultFile) -> None:
    marker = env.root / "ran"
    done = env.zk("run", "--", "touch", str(marker))
    assert done.returncode == 3 and not marker.exists()


def test_run_with_twenty_secrets_is_fast(env: Env, unlocked: VaultFile) -> None:
    start = time.perf_counter()
    done = env.zk("run", "--", "true")
    assert done.returncode == 0
    # Generous bound for a loaded CI machine; benchmarks/cli.py measures properly.
    assert time.perf_counter() - start < 2.0
    assert "ZKVAULT" not in os.environ  # the test process itself stays clean


def test_no_mask_passes_output_through(env: Env, unlocked: VaultFile) -> None:
    done = env.zk(
        "run", "--no-mask", "--env", "T=github", "--", *CHILD, "import os; print(os.environ['T'])"
    )
    assert done.returncode == 0 and done.stdout == unlocked.secrets["github"] + "\n"


def test_items_that_would_share_a_variable_are_refused(env: Env) -> None:
    from tests.native.support import make_vault
    from vault_core import Item

    vf = make_vault(
        env.root,
        [
            Item(name="ci token", kind="generic", url="", secret="a" * 20),
            Item(name="ci-token", kind="generic", url="", secret="b" * 20),
        ],
    )
    env.zk("adopt", str(vf.path), "--account-id", str(vf.account_id), check=True)
    assert env.unlock().returncode == 0
    done = env.zk("run", "--", "true")
    assert done.returncode == 2 and "$CI_TOKEN" in done.stderr
    assert env.zk("run", "--env", "A=ci token", "--env", "B=ci-token", "--", "true").returncode == 0
