"""``zkvault connect``: pair this machine with a server (see native.pairing)."""

from __future__ import annotations

import argparse

from native.errors import NETWORK, CliError


def cmd_connect(args: argparse.Namespace) -> int:
    raise CliError("pairing is not available in this build yet; use `zkvault import`",
                   NETWORK, "unsupported")
