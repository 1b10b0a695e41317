"""Hold the documented commands against the real ones.

    python tools/check_docs.py        # prints each disagreement; exits 1 if there is any

- docs/cli.md's command table against ``zkvault --help`` and each command's ``--help``:
  every documented command, sub-command and option exists, and every one that exists
  is documented;
- every ``zkvault …`` invocation written in README.md and docs/*.md names a real command
  with real options;
- README.md's benchmark table against benchmarks/*.py, and the ``make`` targets the
  README names against the Makefile's, both ways.

The CLI is run as ``python -m native`` from this checkout, so no installed ``zkvault``
on the PATH is consulted.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
README = ROOT / "README.md"

_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
_CHOICES = re.compile(r"\{([a-z0-9,-]+)\}")
_SUBCOMMAND_HEADER = re.compile(r"^  [A-Z]+$")
_SUBCOMMAND = re.compile(r"^    ([a-z][a-z0-9-]*)(\s|$)")


@dataclass
class Command:
    """One command as its ``--help`` describes it."""

    path: tuple[str, ...]
    options: set[str]
    choices: set[str] = field(default_factory=set)  # a positional's fixed values
    subcommands: dict[str, Command] = field(default_factory=dict)


@functools.cache  # a command's help is fixed for the life of a checkout: run each once
def help_text(*path: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "native", *path, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"zkvault {' '.join(path)} --help failed: {done.stderr.strip()}")
    return done.stdout


def parse(text: str, path: tuple[str, ...]) -> Command:
    """A command from its help: subcommands (an upper-case metavar's list), the fixed
    choices of a positional (``{a,b}`` in the usage), and the long options."""
    names: list[str] = []
    listing = False
    for line in text.splitlines():
        if _SUBCOMMAND_HEADER.match(line):
            listing = True
        elif listing and (found := _SUBCOMMAND.match(line)):
            names.append(found.group(1))
        elif listing and not line.startswith("      "):  # a description's wrapped line
            listing = False
    usage = text.split("\n\n", 1)[0]
    choices = {c for group in _CHOICES.findall(usage) for c in group.split(",")}
    options = set(_OPTION.findall(text)) - {"--help"}
    command = Command(path, options, choices)
    for name in names:
        command.subcommands[name] = parse(help_text(*path, name), (*path, name))
    return command


def leaves(command: Command) -> list[Command]:
    if not command.subcommands:
        return [command] if command.path else []
    return [leaf for sub in command.subcommands.values() for leaf in leaves(sub)]


def resolve(root: Command, words: list[str]) -> tuple[Command | None, list[str]]:
    """Walk ``words`` down the subcommands: the command reached and the words left."""
    command = root
    while words and words[0] in command.subcommands:
        command, words = command.subcommands[words[0]], words[1:]
    return (None if command is root else command), words


def command_table(text: str) -> list[str]:
    """The first cell of each row of docs/cli.md's "## Commands" table."""
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| `(.+?)` \|", section, re.M)
    return [cell.replace("\\|", "|") for cell in cells]


def check_command_table(root: Command, text: str) -> list[str]:
    problems: list[str] = []
    documented: set[tuple[str, ...]] = set()
    for cell in command_table(text):
        command, rest = resolve(root, cell.split())
        if command is None or command.subcommands:
            problems.append(f"docs/cli.md documents `{cell}`: no such command")
            continue
        documented.add(command.path)
        name = " ".join(command.path)
        for option in sorted(set(_OPTION.findall(cell)) - command.options):
            problems.append(f"docs/cli.md: `zkvault {name}` has no option {option}")
        for option in sorted(command.options - set(_OPTION.findall(cell))):
            problems.append(f"docs/cli.md: `zkvault {name}`'s option {option} is not documented")
        if command.choices:
            given = set(rest[0].split("|")) if rest else set()
            for choice in sorted(given - command.choices):
                problems.append(f"docs/cli.md: `zkvault {name} {choice}` does not exist")
            for choice in sorted(command.choices - given):
                problems.append(f"docs/cli.md: `zkvault {name} {choice}` is not documented")
    for leaf in leaves(root):
        if leaf.path not in documented:
            problems.append(f"docs/cli.md: `zkvault {' '.join(leaf.path)}` is not documented")
    return problems


def invocations(text: str) -> list[str]:
    """``zkvault …`` as written in code spans and indented code lines (comments cut)."""
    spans = re.findall(r"`(zkvault [^`]+)`", text)
    lines = re.findall(r"^ {4,}(zkvault .*?)(?: {2,}#.*)?$", text, re.M)
    return [" ".join(found.split()) for found in spans + lines]


def check_invocations(root: Command, name: str, text: str) -> list[str]:
    problems: list[str] = []
    for written in invocations(text):
        try:
            words = shlex.split(written)[1:]
        except ValueError:
            words = written.split()[1:]
        if "--" in words:  # what follows is the command zkvault runs, not zkvault's
            words = words[: words.index("--")]
        if not words or words[0].startswith("-") or words[0].endswith(":"):
            continue  # `zkvault --help`, or a message zkvault prints ("zkvault ssh: …")
        command, rest = resolve(root, words)
        if command is None:
            problems.append(f"{name}: `{written}`: no such command")
            continue
        if command.subcommands and rest and not rest[0].startswith("-"):
            problems.append(f"{name}: `{written}`: no such command")
            continue
        word = rest[0] if rest else ""
        if command.choices and word.isalpha() and word.islower() and word not in command.choices:
            problems.append(f"{name}: `{written}`: {word} is not one of its choices")
        for option in sorted({w.split("=")[0] for w in rest if w.startswith("--")}):
            if option not in command.options:
                problems.append(f"{name}: `{written}`: no option {option}")
    return problems


def check_benchmarks(text: str) -> list[str]:
    documented = set(re.findall(r"^\| `\.venv/bin/python (benchmarks/\w+\.py)`", text, re.M))
    present = {f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("*.py")}
    problems = [f"README.md lists {b}, which does not exist" for b in sorted(documented - present)]
    problems += [f"README.md does not list {b}" for b in sorted(present - documented)]
    return problems


def check_make_targets(text: str) -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"(?:`|^ {4})make ([a-z][a-z-]*)", text, re.M))
    problems = [f"README.md names `make {t}`: no such target" for t in sorted(named - targets)]
    problems += [f"README.md does not name `make {t}`" for t in sorted(targets - named)]
    return problems


def problems() -> list[str]:
    root = parse(help_text(), ())
    found = check_command_table(root, CLI_DOC.read_text())
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        found += check_invocations(root, doc.relative_to(ROOT).as_posix(), doc.read_text())
    readme = README.read_text()
    return found + check_benchmarks(readme) + check_make_targets(readme)


def main() -> int:
    found = problems()
    for problem in found:
        print(problem)
    if found:
        print(f"check_docs: {len(found)} disagreement(s) between the docs and the commands")
        return 1
    print("check_docs: the documented commands are the real ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
