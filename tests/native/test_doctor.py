"""``zkvault doctor``: each check against the real thing it checks (a real server and IdP,
a real agent, real git configuration, real files in a temporary HOME), and never a value
in what it prints."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from typing import Any

import httpx

from tests.native.serverproc import Server, start_server
from tests.native.support import REPO, Env, make_vault
from tests.support.processes import free_port
from vault_core import Item

DOCTOR_FAILED = 21
TODAY = datetime.date.today()


def day(offset: int) -> str:
    return (TODAY + datetime.timedelta(days=offset)).isoformat()


SECRETS = {
    "gh main": "ghp_" + "D0c7oR" * 6,
    "old lab": "glpat-" + "Ex9" * 7,
    "soon ci": "ci-" + "Soon5" * 6,
    "later": "later-" + "L8r" * 8,
}
ITEMS = [
    Item(name="gh main", kind="github", url="", secret=SECRETS["gh main"], expires=day(200)),
    Item(
        name="old lab",
        kind="gitlab",
        url="https://gitlab.example.com/g",
        secret=SECRETS["old lab"],
        expires=day(-3),
    ),
    Item(name="soon ci", kind="generic", url="", secret=SECRETS["soon ci"], expires=day(5)),
    Item(name="later", kind="generic", url="", secret=SECRETS["later"]),
]
PLAIN = "hunter2-" + "Pl41n" * 4


def doctor(env: Env, server: str | None) -> tuple[int, dict[str, dict[str, Any]], str]:
    extra = {"ZKVAULT_SERVER": server} if server else {}
    done = env.zk("doctor", "--json", extra=extra, timeout=120)
    text = env.zk("doctor", extra=extra, timeout=120)
    assert text.returncode == done.returncode, (text.stdout, done.stdout)
    assert "Traceback" not in done.stderr + text.stderr
    out = done.stdout + done.stderr + text.stdout + text.stderr
    for value in [*SECRETS.values(), PLAIN]:
        assert value not in out
    data = json.loads(done.stdout)
    assert data["ok"] is (done.returncode == 0)
    checks = {c["check"]: c for c in data["checks"]}
    assert list(checks) == ["agent", "server", "clock", "git", "expiry", "plaintext", "web"]
    for c in data["checks"]:  # every line of the text output: status, check, detail
        shown = c["detail"] if c["check"] != "clock" else ""  # seconds may tick between runs
        assert f"{c['status']:<8} {c['check']:<10} {shown}" in text.stdout
    return done.returncode, checks, text.stdout


def setup(env: Env, items: list[Item]) -> None:
    vault = make_vault(env.root, items)
    env.zk("adopt", str(vault.path), "--account-id", str(vault.account_id), check=True)
    assert env.unlock().returncode == 0
    env.zk("git", "setup", check=True)


def test_healthy(server: Server, env: Env) -> None:
    setup(env, [ITEMS[0], ITEMS[3]])
    # The server serves the web app when it was built before it started (the browser tests
    # build it, in the other group of the same run): then it is this source's build.
    served = httpx.get(f"{server.url}/manifest.json", timeout=10).status_code == 200
    code, checks, _ = doctor(env, server.url)
    assert code == 0, checks
    statuses = {name: c["status"] for name, c in checks.items()}
    assert statuses == {
        "agent": "ok",
        "server": "ok",
        "clock": "ok",
        "git": "ok",
        "expiry": "ok",
        "plaintext": "ok",
        "web": "ok" if served else "skipped",
    }
    assert "undumpable" in checks["agent"]["detail"]
    assert "github.com" in checks["git"]["detail"]
    if not served:
        assert checks["web"]["detail"] == "the server serves no built web app"


def test_expired_and_expiring_items_by_name(server: Server, env: Env) -> None:
    setup(env, ITEMS)
    code, checks, text = doctor(env, server.url)
    assert code == DOCTOR_FAILED
    expiry = checks["expiry"]
    assert expiry["status"] == "fail"
    assert f"expired: old lab ({day(-3)})" in expiry["detail"]
    assert f"soon ci ({day(5)})" in expiry["detail"]
    assert "gh main" not in expiry["detail"] and "later" not in expiry["detail"]
    assert "zkvault rotate" in expiry["next"]
    assert "next: make new tokens" in text
    # both git hosts of the items are covered by the helper `git setup` configured
    assert checks["git"]["status"] == "ok"
    assert "gitlab.example.com" in checks["git"]["detail"]


def test_expiring_only_is_a_warning(server: Server, env: Env) -> None:
    setup(env, [ITEMS[0], ITEMS[2]])
    code, checks, _ = doctor(env, server.url)
    assert code == 0
    assert checks["expiry"]["status"] == "warn"
    assert checks["expiry"]["detail"] == f"expiring within 14 days: soon ci ({day(5)})"


def test_plaintext_git_credentials(server: Server, env: Env) -> None:
    setup(env, [ITEMS[0]])
    home = env.root / "h"
    (home / ".git-credentials").write_text(f"https://bob:{PLAIN}@git.example.com\n")
    code, checks, _ = doctor(env, server.url)
    assert code == DOCTOR_FAILED
    found = checks["plaintext"]
    assert found["status"] == "fail"
    assert found["detail"] == "1 plaintext credential(s) in ~/.git-credentials"
    assert "zkvault scan" in found["next"] and "zkvault import --remove-plaintext" in found["next"]


def test_git_helper_not_configured(server: Server, env: Env) -> None:
    setup(env, [ITEMS[0], ITEMS[1]])
    subprocess.run(
        ["git", "config", "--global", "--unset-all", "credential.helper"], env=env.vars, check=True
    )
    # a per-URL helper for one host only: the other host is still reported
    subprocess.run(
        ["git", "config", "--global", "credential.https://gitlab.example.com.helper", "store"],
        env=env.vars,
        check=True,
    )
    code, checks, _ = doctor(env, server.url)
    git = checks["git"]
    assert git["status"] == "warn"
    assert git["detail"] == "git does not ask zkvault for github.com, gitlab.example.com"
    assert "zkvault git setup" in git["next"]
    assert code == DOCTOR_FAILED  # the expired item, not git: a warning alone exits 0


def test_git_helper_reset_for_one_host(server: Server, env: Env) -> None:
    setup(env, [ITEMS[0], ITEMS[3]])
    for value in ("", "store"):  # an empty helper clears the list for that URL, as in git
        subprocess.run(
            ["git", "config", "--global", "--add", "credential.https://github.com.helper", value],
            env=env.vars,
            check=True,
        )
    code, checks, _ = doctor(env, server.url)
    assert code == 0
    assert checks["git"]["status"] == "warn"
    assert checks["git"]["detail"] == "git does not ask zkvault for github.com"


def test_server_down(env: Env) -> None:
    setup(env, [ITEMS[0]])
    url = f"http://127.0.0.1:{free_port()}"
    code, checks, text = doctor(env, url)
    assert code == DOCTOR_FAILED
    assert checks["server"]["status"] == "fail"
    assert checks["server"]["detail"].startswith(f"cannot reach {url}")
    assert "start the server" in checks["server"]["next"]
    assert checks["clock"]["status"] == "skipped"
    assert checks["web"] == {
        "check": "web",
        "status": "skipped",
        "detail": "the server cannot be reached",
        "next": "",
    }
    assert "next: start the server" in text


def test_locked(server: Server, env: Env) -> None:
    setup(env, [ITEMS[0]])
    env.zk("lock", check=True)
    code, checks, _ = doctor(env, server.url)
    assert code == 0  # locked is a warning: nothing is broken
    assert checks["agent"]["status"] == "warn"
    assert checks["agent"]["next"] == "run `zkvault unlock`"
    assert checks["expiry"]["status"] == "skipped"
    assert "locked" in checks["expiry"]["detail"]
    assert checks["git"]["status"] == "ok"  # the global helper, hosts unknown while locked


def test_no_server_configured(env: Env) -> None:
    setup(env, [ITEMS[0]])
    code, checks, _ = doctor(env, None)
    assert code == 0
    for name in ("server", "clock", "web"):
        assert checks[name]["status"] == "skipped"
    assert checks["web"]["detail"] == "no server configured"


def test_clock_skew_beyond_the_dpop_window(env: Env) -> None:
    ahead = start_server(clock_offset="+300s")  # a real server on a clock 5 minutes ahead
    try:
        setup(env, [ITEMS[0]])
        code, checks, _ = doctor(env, ahead.url)
    finally:
        ahead.stop()
    assert code == 0  # a warning
    clock = checks["clock"]
    assert clock["status"] == "warn"
    seconds = int(clock["detail"].split()[4])  # Date has whole seconds; the start took some
    assert 290 <= seconds <= 305, clock
    assert "s ahead of this machine's: more than the 90 s the server tolerates" in clock["detail"]
    assert "NTP" in clock["next"]
    assert checks["server"]["status"] == "ok"


def test_completion_offers_doctor() -> None:
    script = (
        f'zkvault() {{ "{sys.executable}" -m native "$@"; }}\n'
        'eval "$(zkvault completion bash)"\n'
        'COMP_WORDS=(zkvault do); COMP_CWORD=1; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault doctor --); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=30, check=False
    )
    assert done.stdout.splitlines() == ["doctor", "--json"], done.stderr
    for shell, wanted in (
        ("zsh", "doctor) opts=(--json) ;;"),
        ("fish", "__fish_seen_subcommand_from doctor' -l json"),
    ):
        script_text = subprocess.run(
            [sys.executable, "-m", "native", "completion", shell],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=30,
            check=True,
        ).stdout
        assert wanted in script_text
        assert " doctor " in script_text
