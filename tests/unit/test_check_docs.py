"""tools/check_docs.py can say no: each kind of drift, made in a copy of the real docs,
is reported; the real docs as they are give no report."""

from __future__ import annotations

import sys

import pytest

from tests.support.processes import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import check_docs


@pytest.fixture(scope="module")
def root() -> check_docs.Command:
    return check_docs.parse(check_docs.help_text(), ())


@pytest.fixture(scope="module")
def cli_doc() -> str:
    return check_docs.CLI_DOC.read_text()


def test_the_docs_as_they_are_agree(root: check_docs.Command) -> None:
    assert check_docs.problems() == []
    assert {"connect", "ssh", "runner"} <= set(root.subcommands)
    assert root.subcommands["runner"].subcommands.keys() == {"enroll"}
    assert root.subcommands["git-credential"].choices == {"get", "store", "erase"}


def test_an_undocumented_command_is_reported(root: check_docs.Command, cli_doc: str) -> None:
    without = "\n".join(
        line for line in cli_doc.splitlines() if not line.startswith("| `lock [--json]`")
    )
    assert check_docs.check_command_table(root, without) == [
        "docs/cli.md: `zkvault lock` is not documented"
    ]


def test_a_made_up_command_or_option_is_reported(root: check_docs.Command, cli_doc: str) -> None:
    drifted = cli_doc.replace("| `lock [--json]` |", "| `lock [--force] [--json]` |").replace(
        "| `list [--vault NAME] [--json]` |", "| `lists [--vault NAME] [--json]` |"
    )
    assert check_docs.check_command_table(root, drifted) == [
        "docs/cli.md: `zkvault lock` has no option --force",
        "docs/cli.md documents `lists [--vault NAME] [--json]`: no such command",
        "docs/cli.md: `zkvault list` is not documented",
    ]


def test_an_undocumented_option_or_choice_is_reported(
    root: check_docs.Command, cli_doc: str
) -> None:
    drifted = cli_doc.replace(
        " [--strict] [--confirm] [--json]` |", " [--confirm] [--json]` |", 1
    ).replace("`git-credential get\\|store\\|erase`", "`git-credential get\\|store`")
    assert check_docs.check_command_table(root, drifted) == [
        "docs/cli.md: `zkvault unlock`'s option --strict is not documented",
        "docs/cli.md: `zkvault git-credential erase` is not documented",
    ]


def test_a_wrong_invocation_in_prose_is_reported(root: check_docs.Command) -> None:
    text = (
        "Run `zkvault unlock --passphrase-stdin`, then `zkvault runner enrol --name x`,\n"
        "`zkvault get --feild secret NAME` and `zkvault run -- make --anything`:\n\n"
        "    zkvault git setup --global   # fine\n"
        "    zkvault sync                 # no such command\n"
        "    zkvault git-credential fetch\n"
    )
    assert check_docs.check_invocations(root, "x.md", text) == [
        "x.md: `zkvault runner enrol --name x`: no such command",
        "x.md: `zkvault get --feild secret NAME`: no option --feild",
        "x.md: `zkvault sync`: no such command",
        "x.md: `zkvault git-credential fetch`: fetch is not one of its choices",
    ]


def test_benchmarks_and_make_targets_are_held_both_ways() -> None:
    readme = check_docs.README.read_text()
    without_kdf = "\n".join(
        line for line in readme.splitlines() if "benchmarks/kdf.py`" not in line
    )
    assert check_docs.check_benchmarks(without_kdf) == ["README.md does not list benchmarks/kdf.py"]
    made_up = readme + "\n| `.venv/bin/python benchmarks/nope.py` | nothing |\n"
    assert check_docs.check_benchmarks(made_up) == [
        "README.md lists benchmarks/nope.py, which does not exist"
    ]
    assert check_docs.check_make_targets(readme + "\nthen `make deploy`\n") == [
        "README.md names `make deploy`: no such target"
    ]
