"""The CLI's write commands start light: building the parser loads nothing of vault_core
(the agent, which has it loaded, guesses a token's kind and warns about a wrong one), so
`zkvault add` and `edit` pay for argparse, json and a socket, not for the vault format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from native.edit_commands import KINDS
from tests.native.support import REPO
from vault_core.items import KINDS as CORE_KINDS

# Loaded by none of the write commands' client side (what the agent does is not here).
HEAVY = ("vault_core", "nacl", "dataclasses", "typing", "uuid", "getpass", "native.import_cmd")
LOCKED = 3


def test_the_parsers_kinds_are_vault_cores() -> None:
    assert KINDS == CORE_KINDS


def _modules(tmp_path: Path, *args: str, stdin: str = "") -> set[str]:
    """The modules `python -m native ARGS` imports, run with no agent (it ends locked)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "native", *args],
        input=stdin,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "ZKVAULT_HOME": str(tmp_path / "state"),
            "ZKVAULT_RUNTIME_DIR": str(tmp_path / "run"),
            "ZKVAULT_KEYRING": "off",
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == LOCKED, done.stderr[-2000:]
    return {
        line.split("|")[2].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("add", "deploy", "--secret-stdin"), "ghp_" + "a" * 36),
        (
            (
                "add",
                "deploy",
                "--kind",
                "gitlab",
                "--url",
                "https://gitlab.com/x",
                "--secret-stdin",
            ),
            "s",
        ),
        (("edit", "deploy", "--note", "moved"), ""),
        (("rotate", "deploy", "--secret-stdin"), "new"),
        (("rm", "deploy", "--yes"), ""),
    ],
)
def test_write_commands_load_no_vault_code(
    tmp_path: Path, args: tuple[str, ...], stdin: str
) -> None:
    loaded = _modules(tmp_path, *args, stdin=stdin)
    assert "native.client" in loaded  # it did get as far as asking the agent
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY}
