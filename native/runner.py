"""Runner mode: unattended use from one credential string."""

from __future__ import annotations

import argparse
from typing import Any

from native.errors import NETWORK, CliError


def request(op: str, **fields: Any) -> dict[str, Any]:
    raise CliError("runner mode is not available in this build yet", NETWORK, "unsupported")


def cmd_enroll(args: argparse.Namespace) -> int:
    raise CliError("runner enrolment is not available in this build yet", NETWORK,
                   "unsupported")
