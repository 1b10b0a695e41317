"""The command line of ``zkvault ssh``: our own flags, OpenSSH's options, DESTINATION, COMMAND.

Hand-parsed because OpenSSH's options must pass through untouched: we only need to know
which of them take an argument to find DESTINATION. Our flags come before DESTINATION,
mixed with ssh's in any order; everything after DESTINATION (an optional ``--`` first)
is the remote command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from native.errors import USAGE, CliError
from native.unlock import parse_duration

DEFAULT_TTL = 3600.0
# OpenSSH 9's options that take an argument (ssh(1) SYNOPSIS).
_SSH_WITH_ARGUMENT = set("BbcDEeFIiJLlmOoPpQRSWw")
# Options that would detach ssh from this session or replace the remote command:
# the proxy's lifetime is ssh's lifetime, so they are refused.
_SSH_REFUSED = {"f": "-f (background)", "N": "-N (no command)", "O": "-O", "W": "-W", "s": "-s"}
# The same through -o (keyword case-insensitive, as ssh_config(5) reads it): keyword ->
# {refused value: what it amounts to}.
_OPTION_REFUSED = {
    "sessiontype": {"none": "-N (no command)", "subsystem": "-s"},
    "forkafterauthentication": {"yes": "-f (background)", "true": "-f (background)"},
}

USAGE_LINE = (
    "usage: zkvault ssh [--allow NAME ...] [--allow-host HOST ...] [--ttl DURATION] "
    "[--confirm] [--session-key --authorize CMD] [ssh options] DESTINATION [-- COMMAND]"
)


@dataclass
class SshArgs:
    allow: list[str] = field(default_factory=list)
    allow_hosts: list[str] = field(default_factory=list)
    ttl: float = DEFAULT_TTL
    confirm: bool = False
    session_key: bool = False
    authorize: str | None = None
    ssh_options: list[str] = field(default_factory=list)
    destination: str = ""
    command: list[str] = field(default_factory=list)
    help: bool = False


def _usage(message: str) -> CliError:
    return CliError(f"{message}; see `zkvault ssh --help`", USAGE, "usage")


def _value(flag: str, word: str, rest: list[str]) -> str:
    """The value of ``--flag VALUE`` or ``--flag=VALUE``."""
    if word.startswith(flag + "="):
        value = word[len(flag) + 1 :]
    elif rest:
        value = rest.pop(0)
    else:
        value = ""
    if not value:
        raise _usage(f"{flag} needs a value")
    return value


def _ssh_option(word: str, rest: list[str], out: list[str]) -> None:
    """Copy one ssh option word (``-vp22``, ``-i KEY``, ...) and its argument, if any."""
    out.append(word)
    for i, letter in enumerate(word[1:], start=1):
        if letter in _SSH_REFUSED:
            raise _usage(f"ssh option {_SSH_REFUSED[letter]} cannot be used with zkvault ssh")
        if letter in _SSH_WITH_ARGUMENT:
            if i == len(word) - 1:  # the argument is the next word
                if not rest:
                    raise _usage(f"ssh option -{letter} needs an argument")
                out.append(rest.pop(0))
                value = out[-1]
            else:
                value = word[i + 1 :]
            if letter == "o":
                _check_config_option(value)
            return


def _check_config_option(text: str) -> None:
    """``-o KEYWORD=VALUE`` or ``-o "KEYWORD VALUE"`` (ssh splits at the first run of
    blanks or one ``=``, and reads a keyword and yes/no values in any case)."""
    line = text.strip()
    end = next((i for i, c in enumerate(line) if c in " \t="), len(line))
    keyword, value = line[:end].lower(), line[end:].strip(" \t")
    if value.startswith("="):
        value = value[1:].strip(" \t")
    words = value.split()
    first = words[0].strip('"').lower() if words else ""
    refused = _OPTION_REFUSED.get(keyword, {}).get(first)
    if refused is not None:
        raise _usage(f"ssh option -o {line} ({refused}) cannot be used with zkvault ssh")


def parse(argv: list[str]) -> SshArgs:
    args = SshArgs()
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        flag = word.partition("=")[0]
        if flag == "--allow":
            args.allow.append(_value(flag, word, rest))
        elif flag == "--allow-host":
            args.allow_hosts.append(_value(flag, word, rest).lower())
        elif flag == "--ttl":
            args.ttl = parse_duration(_value(flag, word, rest), "--ttl")
        elif flag == "--authorize":
            args.authorize = _value(flag, word, rest)
        elif word == "--confirm":
            args.confirm = True
        elif word == "--session-key":
            args.session_key = True
        elif word in ("-h", "--help"):
            args.help = True
            return args
        elif word.startswith("--"):
            raise _usage(f"unknown option {word}")
        elif word.startswith("-") and len(word) > 1:
            _ssh_option(word, rest, args.ssh_options)
        else:
            args.destination = word
            args.command = rest[1:] if rest[:1] == ["--"] else rest
            break
    if not args.destination:
        raise _usage("DESTINATION is missing")
    if not args.allow and not args.allow_hosts:
        raise _usage("nothing to share: give --allow NAME or --allow-host HOST")
    if args.session_key != (args.authorize is not None):
        raise _usage("--session-key and --authorize CMD go together")
    return args
