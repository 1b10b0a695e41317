"""vault_core.token_formats: the table, kind guesses and warnings, scanning in linear time."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.unit import token_format_checks as checks
from vault_core import token_formats as tf
from vault_core.items import KINDS


def test_every_format_has_a_sample_and_every_sample_is_found_exactly() -> None:
    result = checks.run()
    assert {f["name"] for f in result["found"]} == set(result["formats"])
    for found in result["found"]:
        assert found["format"] == found["name"]
        assert found["kind"] == tf.BY_NAME[found["name"]].kind
        # Twice in the text (quoted, and as a URL's password), each time the exact token.
        assert found["spans"] == [[True, found["name"]]] * 2, found["name"]
        assert found["bytes_spans"] == found["spans"]


def test_near_misses_are_not_tokens() -> None:
    for miss, (kind, spans) in checks.run()["misses"].items():
        assert kind is None and spans == [], miss


def test_table_is_consistent() -> None:
    for fmt in tf.FORMATS:
        assert fmt.kind in KINDS
        assert fmt.pattern.startswith(fmt.prefix[0])
        # The streaming masker holds back MAX_TOKEN_LENGTH bytes: no token may be longer.
        width = re._parser.parse(fmt.pattern).getwidth()[1]
        assert width <= tf.MAX_TOKEN_LENGTH, fmt.name


@pytest.mark.parametrize(
    ("kind", "secret", "warns"),
    [
        ("github", "ghp_" + "a1" * 18, False),
        ("github-enterprise", "ghp_" + "a1" * 18, False),
        ("git", "ghp_" + "a1" * 18, False),
        ("git", "glpat-" + "a1" * 10, False),
        ("gitlab", "ghp_" + "a1" * 18, True),
        ("bitbucket", "glpat-" + "a1" * 10, True),
        ("generic", "ghp_" + "a1" * 18, True),
        ("github", "npm_" + "a1" * 18, True),
        ("git", "npm_" + "a1" * 18, True),
        ("generic", "npm_" + "a1" * 18, False),
        ("github", "hunter2", False),
        ("gitlab", "", False),
    ],
)
def test_kind_warning(kind: str, secret: str, warns: bool) -> None:
    warning = tf.kind_warning(kind, secret)
    assert (warning is not None) == warns
    if warning is not None:
        assert secret not in warning and kind in warning


def test_guess_kind_ignores_surrounding_white_space_only() -> None:
    token = "glpat-" + "x" * 20
    assert tf.guess_kind(f"  {token}\r\n") == "gitlab"
    assert tf.guess_kind(f"token {token}") is None


def test_adjacent_tokens_are_separate_and_ordered() -> None:
    a, b = "ghp_" + "A" * 36, "npm_" + "b" * 36
    text = f"{a} {b}\n{a}"
    assert [(text[s:e], n) for s, e, n in tf.find_tokens(text)] == [
        (a, "github-classic-pat"),
        (b, "npm-token"),
        (a, "github-classic-pat"),
    ]


ADVERSARIAL = [
    "glpat-",
    "sk-",
    "sk-proj-",
    "sk-a",
    "ghp_",
    "github_pat_",
    "xoxb-",
    "ATCTT3",
    "pypi-AgE",
    "glcbt-1_",
    "-",
    "a",
    "AKIA",
    "sk-" + "a" * 19 + "T3BlbkFJ",
]


def _seconds(text: str) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _match in tf.find_tokens(text):
            pass
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_scanning_is_linear_on_adversarial_input(unit: str) -> None:
    small = unit * (100_000 // len(unit))
    large = unit * (800_000 // len(unit))
    t_small, t_large = _seconds(small), _seconds(large)
    # Eight times the input: about eight times the time (quadratic would be 64 times; the
    # margin absorbs a loaded machine), and in absolute terms far from a hang.
    assert t_large < 24 * t_small + 0.02, (t_small, t_large)
    assert t_large < 2.0


def test_one_long_run_is_linear() -> None:
    assert _seconds("glpat-" + "a" * 2_000_000) < 1.0
    assert _seconds("ghp_" + "a_" * 1_000_000) < 1.0


def test_docs_list_every_format() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "tokens.md").read_text(encoding="utf-8")
    for fmt in tf.FORMATS:
        assert f"| `{fmt.name}` | {fmt.label} | {fmt.kind} | {fmt.published} |" in doc
