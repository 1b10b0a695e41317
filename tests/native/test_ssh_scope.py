"""`zkvault ssh` without a server: its command line, its scope rules and the builder-side
wrapper (run by a real /bin/sh)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from native.errors import CliError
from native.remote import wrapper
from native.remote.args import parse
from native.remote.scope import MAX_ENV_NAMES, NOT_SHARED, Refused, Scope
from tests.native.support import Env


def test_ssh_options_pass_through_untouched() -> None:
    argv = [
        "--allow",
        "ci",
        "-vp2222",
        "-i",
        "key",
        "--ttl=15m",
        "-o",
        "A=b",
        "me@host",
        "--",
        "make",
        "-j4",
    ]
    args = parse(argv)
    assert args.ssh_options == ["-vp2222", "-i", "key", "-o", "A=b"]
    assert (args.destination, args.command, args.ttl, args.allow) == (
        "me@host",
        ["make", "-j4"],
        900.0,
        ["ci"],
    )
    assert parse(["--allow-host", "GitHub.com", "h", "ls", "-l"]).command == ["ls", "-l"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--allow", "x"], "DESTINATION is missing"),
        (["host"], "nothing to share"),
        (["--allow", "x", "-N", "host"], "-N (no command)"),
        (["--allow", "x", "-fp", "22", "host"], "-f (background)"),
        (["--allow", "x", "-p"], "-p needs an argument"),
        (["--allow", "x", "--session-key", "host"], "go together"),
        (["--allow", "x", "--ttl", "soon", "host"], "--ttl must be a duration"),
        (["--allow", "x", "--bogus", "host"], "unknown option --bogus"),
        # -N and -f as ssh_config options, in the spellings ssh accepts:
        (["--allow", "x", "-o", "SessionType=none", "host"], "(-N (no command))"),
        (["--allow", "x", "-oSessionType=None", "host"], "(-N (no command))"),
        (["--allow", "x", "-o", "sessiontype none", "host"], "(-N (no command))"),
        (["--allow", "x", "-o", 'SessionType = "none"', "host"], "(-N (no command))"),
        (["--allow", "x", "-vo", "SessionType=subsystem", "host"], "(-s)"),
        (["--allow", "x", "-o", "ForkAfterAuthentication=yes", "host"], "(-f (background))"),
        (["--allow", "x", "-oforkafterauthentication\tTRUE", "host"], "(-f (background))"),
    ],
)
def test_bad_command_lines_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(CliError) as caught:
        parse(argv)
    assert caught.value.exit_code == 2 and message in caught.value.message


SCOPE = Scope.of(["ci token"], ["Git.Example.com:443", "127.0.0.1:8080"])


def test_harmless_config_options_pass() -> None:
    argv = ["--allow", "x", "-o", "SessionType=default", "-oForkAfterAuthentication=no", "h"]
    assert parse(argv).ssh_options == argv[2:5]


def test_requests_are_rebuilt_from_known_fields_only() -> None:
    forwarded = SCOPE.request("get", {"op": "get", "name": "ci token", "extra": "x", "v": 9})
    assert forwarded == {"v": 1, "op": "get", "name": "ci token", "field": "secret"}
    assert SCOPE.request("env", {"names": None})["names"] == ["ci token"]


@pytest.mark.parametrize(
    ("op", "fields", "code"),
    [
        ("get", {"name": "github"}, "out_of_scope"),
        ("get", {"name": ["ci token"]}, "out_of_scope"),
        ("env", {"names": ["ci token", "github"]}, "out_of_scope"),
        ("lock", {}, "forbidden"),
        ("unlock", {}, "forbidden"),
        ("reload", {}, "forbidden"),
    ],
)
def test_outside_the_scope_is_refused(op: str, fields: dict[str, object], code: str) -> None:
    with pytest.raises(Refused) as caught:
        SCOPE.request(op, fields)
    assert caught.value.code == code


def test_env_names_are_asked_once_and_bounded() -> None:
    flood = SCOPE.request("env", {"names": ["ci token"] * MAX_ENV_NAMES})
    assert flood["names"] == ["ci token"]
    with pytest.raises(Refused) as caught:
        SCOPE.request("env", {"names": ["ci token"] * (MAX_ENV_NAMES + 1)})
    assert caught.value.code == "bad_request"


def test_every_refusal_and_failure_reads_the_same() -> None:
    """Whether an item exists, is granted or matches a host never shows: one answer."""
    answers = []
    requests: list[tuple[str, dict[str, object]]] = [
        ("get", {"name": "github"}),
        ("get", {"name": "no such item"}),
        ("env", {"names": ["ci token", "nope"]}),
    ]
    for op, fields in requests:
        with pytest.raises(Refused) as caught:
            SCOPE.request(op, fields)
        answers.append((caught.value.code, caught.value.message))
    for failure in ("not_found", "no_match", "bad_field", "some_future_code"):
        with pytest.raises(Refused) as caught:
            SCOPE.response("get", {}, {"ok": False, "error": failure, "message": "named x"})
        answers.append((caught.value.code, caught.value.message))
    assert set(answers) == {("out_of_scope", NOT_SHARED)}
    locked = {"ok": False, "error": "locked", "message": "the laptop's vault is locked"}
    assert SCOPE.response("get", {}, locked) == locked  # the session's state, not an item's


def test_git_hosts_not_shared_match_among_shared_items_only() -> None:
    scope = Scope.of(["ci token", "mirror"], [])
    listing = {
        "ok": True,
        "items": [
            {"name": "deploy", "url": "https://git.example.com", "kind": "gitlab"},
            {"name": "mirror", "url": "https://git.example.com/acme", "kind": "gitlab"},
            {"name": "ci token", "url": "", "kind": "generic"},
        ],
    }
    asked = {"protocol": "https", "host": "git.example.com", "path": "acme/app.git"}
    # 'deploy' (host-only, unshared) would win for a request without a path; it takes no
    # part, so the shared path item answers either way.
    assert scope.shared_match(asked, listing) == ("mirror", "oauth2")
    assert scope.shared_match({**asked, "path": None}, listing) == ("mirror", "oauth2")
    with pytest.raises(Refused) as caught:
        scope.shared_match({**asked, "host": "other.example"}, listing)
    assert caught.value.message == NOT_SHARED


def test_git_credentials_only_for_shared_hosts_or_items() -> None:
    hosts_only = Scope.of([], ["git.example.com"])
    with pytest.raises(Refused):
        hosts_only.request("credential", {"protocol": "https", "host": "github.com"})
    asked = {"protocol": "https", "host": "git.example.com:443"}
    forwarded = hosts_only.request("credential", asked)
    answer = {"ok": True, "username": "u", "password": "p", "item": "any"}
    assert hosts_only.response("credential", forwarded, answer) == answer
    other = {"protocol": "https", "host": "github.com"}
    with pytest.raises(Refused):  # the agent matched an item that is not shared
        SCOPE.response("credential", SCOPE.request("credential", other), answer)
    shared = {**answer, "item": "ci token"}
    assert SCOPE.response("credential", other, shared) == shared


def test_shared_hosts_compare_with_the_scheme_default_port() -> None:
    scope = Scope.of([], ["Plain.example:80", "git.example.com"])
    assert scope.shares_host("http", "plain.example")
    assert not scope.shares_host("https", "plain.example")  # port 443, not the one shared
    assert scope.shares_host("https", "git.example.com:443")
    assert not scope.shares_host("https", "git.example.com:8443")
    assert not scope.shares_host("https", "evil.git.example.com")


def test_list_shows_shared_items_only() -> None:
    listed = {"ok": True, "items": [{"name": "ci token"}, {"name": "github"}]}
    assert SCOPE.response("list", {}, listed) == {"ok": True, "items": [{"name": "ci token"}]}


def _run_wrapper(socket_path: str, command: str) -> subprocess.CompletedProcess[str]:
    # The remote command exactly as ssh hands it to the builder's login shell.
    line = wrapper.remote_command(socket_path, [command])
    return subprocess.run(
        ["/bin/sh", "-c", line], capture_output=True, text=True, timeout=30, check=False
    )


def test_wrapper_refuses_without_the_forwarded_socket(tmp_path: Path) -> None:
    done = _run_wrapper(str(tmp_path / "missing.sock"), "echo ran")
    assert done.returncode == wrapper.SOCKET_MISSING
    assert done.stdout == "" and "missing or not yours; nothing was run" in done.stderr


def test_wrapper_names_the_socket_and_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "fwd.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        path.chmod(0o666)
        show = 'echo "$ZKVAULT_AGENT_SOCKET $(stat -c %a "$ZKVAULT_AGENT_SOCKET")"; exit 7'
        done = _run_wrapper(str(path), show)
    assert done.returncode == 7  # the command's own status
    assert done.stdout.split() == [str(path), "600"]  # tightened before use
    assert not path.exists()


@pytest.mark.usefixtures("imported")  # set up, but locked (never set up says so instead)
def test_locked_vault_stops_before_ssh_and_leaves_nothing(env: Env) -> None:
    done = env.zk("ssh", "--allow-host", "github.com", "builder.invalid", "--", "true")
    assert done.returncode == 3
    assert done.stderr == "zkvault: the vault is locked; run `zkvault unlock` first\n"
    assert not (env.home / "ssh-audit.log").exists()


def test_usage_errors_are_one_line(env: Env) -> None:
    done = env.zk("ssh", "--allow", "x", "-f", "builder.invalid")
    assert done.returncode == 2
    assert done.stderr == (
        "zkvault: ssh option -f (background) cannot be used with zkvault ssh; "
        "see `zkvault ssh --help`\n"
    )
