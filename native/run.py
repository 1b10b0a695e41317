"""``zkvault run``: a child process with secrets in its environment, masked in its output."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from native.errors import NOT_FOUND, USAGE, CliError
from native.masking import KnownFormatMasker, Masker, StreamMasker, encoded_forms

# zkvault's own settings, and a runner's credential above all, never reach the command.
_OWN_PREFIX = "ZKVAULT_"

# Signals a terminal sends to its whole foreground group reach the child
# directly when we share its terminal; forwarding them too would deliver twice.
_TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGQUIT)
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


def env_name(item_name: str) -> str:
    """The variable an item gets when no ``--env`` names one: ``ci token`` -> ``CI_TOKEN``."""
    out = "".join(c if c.isalnum() else "_" for c in item_name.upper()).strip("_")
    return out if out and not out[0].isdigit() else f"ZKVAULT_{out}"


def parse_env_specs(specs: Sequence[str]) -> dict[str, str]:
    """``VAR=ITEM`` pairs -> {VAR: ITEM}."""
    mapping: dict[str, str] = {}
    for spec in specs:
        var, sep, item = spec.partition("=")
        if (
            not sep
            or not var
            or not item
            or not (var[0].isalpha() or var[0] == "_")
            or not all(c.isalnum() or c == "_" for c in var)
        ):
            raise CliError(f"--env wants VAR=ITEM_NAME, got {spec!r}", USAGE, "usage")
        mapping[var] = item
    return mapping


def child_environment(secrets: Mapping[str, str]) -> dict[str, str]:
    """Our environment without any ``ZKVAULT_*`` variable, plus ``secrets``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIX)}
    env.update(secrets)
    return env


def run(
    command: Sequence[str],
    secrets: Mapping[str, str],
    *,
    mask: bool = True,
    also_mask: Iterable[bytes] = (),
    mask_known: bool = False,
    plain: Mapping[str, str] | None = None,
) -> int:
    """Run ``command`` with ``secrets`` (VAR -> value) added to its environment.

    Returns the child's exit status, or 128 + signal number if a signal ended it.
    ``mask=False`` hands the child our own stdout/stderr (a terminal stays a terminal).
    ``also_mask``: values that are not in the child's environment but must never
    appear in its output either (a runner's credential and key seed).
    ``mask_known``: also mask any token of a published format (docs/tokens.md).
    ``plain``: variables the child gets that are not secrets (never masked), such as
    SSH_AUTH_SOCK for a runner's private SSH agent.
    """
    if not command:
        raise CliError(
            "nothing to run; usage: zkvault run [--env VAR=ITEM ...] -- CMD", USAGE, "usage"
        )
    env = child_environment({**(plain or {}), **secrets})
    values = [
        form
        for v in (*(s.encode() for s in secrets.values()), *also_mask)
        for form in encoded_forms(v)
    ]
    children: list[subprocess.Popen[bytes]] = []
    early: list[int] = []  # signals that arrived before the child existed

    def forward(signum: int, frame: Any) -> None:
        if not children:
            early.append(signum)
        elif children[0].returncode is None:
            children[0].send_signal(signum)

    # Handlers first, so a signal during start-up is delivered, not fatal to us alone.
    for sig in _FORWARDED:
        signal.signal(sig, forward)
    for sig in _TERMINAL_SIGNALS:
        # Under a terminal the child gets these from the terminal itself; we keep
        # masking until it exits.
        signal.signal(sig, signal.SIG_IGN if sys.stdin.isatty() else forward)
    pipe = subprocess.PIPE if mask else None
    try:
        child = subprocess.Popen(  # noqa: S603 - the user's own command, no shell
            list(command), env=env, stdout=pipe, stderr=pipe
        )
    except FileNotFoundError:
        raise CliError(f"command not found: {command[0]}", NOT_FOUND, "not_found") from None
    except PermissionError:
        raise CliError(
            f"cannot execute {command[0]}: permission denied", NOT_FOUND, "not_found"
        ) from None
    children.append(child)
    for signum in early:
        child.send_signal(signum)
    if mask:
        assert child.stdout is not None and child.stderr is not None

        def masker() -> StreamMasker:
            return KnownFormatMasker(Masker(values)) if mask_known else Masker(values)

        _pump(
            {
                child.stdout: (sys.stdout.fileno(), masker()),
                child.stderr: (sys.stderr.fileno(), masker()),
            }
        )
    status = child.wait()
    return 128 - status if status < 0 else status


def _pump(streams: dict[IO[bytes], tuple[int, StreamMasker]]) -> None:
    """Copy each child pipe to our own fd through its masker until both reach EOF."""
    selector = selectors.DefaultSelector()
    for stream in streams:
        selector.register(stream, selectors.EVENT_READ)
    remaining = len(streams)
    while remaining:
        for key, _ in selector.select():
            pipe: Any = key.fileobj
            out_fd, masker = streams[pipe]
            data = os.read(key.fd, 65536)
            if data:
                _write_all(out_fd, masker.feed(data))
            else:
                _write_all(out_fd, masker.flush())
                selector.unregister(pipe)
                pipe.close()
                remaining -= 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BrokenPipeError:
            return  # our reader went away; keep draining the child
