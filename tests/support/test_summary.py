"""The security summary's verdict can fail: a copy of the code with one check broken
turns it to FAIL, and the same run over the unbroken copy says PASS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT

# A small, relevant subset: the vault vectors that flip one header or manifest field.
SUBSET = ["tests/unit/test_vectors.py", "-k", "meets_the_vector and flip"]
MAC_CHECK = "        if not hmac.compare_digest(expected_mac, container.header_mac):\n"


def _copy(to: Path) -> Path:
    for name in ("vault_core", "tests"):
        shutil.copytree(
            ROOT / name, to / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def _verdict(tree: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SUBSET],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    found = re.findall(r"^(PASS|FAIL): .*$", done.stdout, re.M)
    assert len(found) == 1, done.stdout[-3000:] + done.stderr[-2000:]
    line = next(m for m in done.stdout.splitlines() if m.startswith(("PASS: ", "FAIL: ")))
    return line


def test_breaking_the_header_mac_check_turns_the_verdict_to_fail(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    assert _verdict(tree).startswith("PASS: "), "the unbroken copy must pass"

    vault_py = tree / "vault_core" / "vault.py"
    source = vault_py.read_text()
    assert source.count(MAC_CHECK) == 1, "the header MAC check moved; update this test"
    vault_py.write_text(source.replace(MAC_CHECK, "        if False:  # broken on purpose\n"))
    broken = _verdict(tree)
    assert broken.startswith("FAIL: "), broken
    # What the summary counted, not only the word: the forged headers went undetected.
    undetected = int(re.search(r"tampering undetected (\d+)", broken).group(1))  # type: ignore[union-attr]
    assert undetected >= 1, broken
