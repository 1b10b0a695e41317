"""The repository stands on its own: no file cites a design document kept outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The team's design brief and research notes live beside the repository, not in it:
# a citation of the brief by name or section, or of its folder, is a dangling reference.
OUTSIDE = re.compile(b"DESIGN" + rb"(\.md| \xc2\xa7)|\.\./" + b"shared/")


def test_no_file_cites_a_document_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    citing = [
        name.decode()
        for name in tracked
        if name
        and (ROOT / name.decode()).is_file()
        and OUTSIDE.search((ROOT / name.decode()).read_bytes())
    ]
    assert citing == []
