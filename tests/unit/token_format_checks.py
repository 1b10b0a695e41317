"""Known answers for vault_core.token_formats, run as-is by CPython (tests/unit) and by
Pyodide (tests/pyodide): standard library and vault_core only, results as JSON.

Tokens are generated from a fixed seed at run time, so no file here holds anything that
looks like a real credential.
"""

from __future__ import annotations

import random
import string
from typing import Any

from vault_core import token_formats as tf

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def samples(seed: int = 22) -> list[tuple[str, str]]:
    """(format name, a token of that format), at least one for every format."""
    r = random.Random(seed)
    gh = [("ghp_", "github-classic-pat"), ("gho_", "github-oauth")]
    gh += [("ghu_", "github-user-to-server"), ("ghs_", "github-server-to-server")]
    gh += [("ghr_", "github-refresh")]
    out = [(name, prefix + _pick(r, ALNUM, 36)) for prefix, name in gh]
    out.append(("github-server-to-server", "ghs_" + _pick(r, ALNUM, 120)))  # grown, <= 255
    out.append(
        (
            "github-fine-grained-pat",
            "github_pat_" + _pick(r, ALNUM, 22) + "_" + _pick(r, ALNUM, 59),
        )
    )
    gitlab = [
        ("gitlab-pat", "glpat-", 20, URLSAFE),
        ("gitlab-oauth-secret", "gloas-", 64, URLSAFE),
        ("gitlab-deploy-token", "gldt-", 20, URLSAFE),
        ("gitlab-runner-token", "glrt-", 20, URLSAFE),
        ("gitlab-runner-token-routable", "glrtr-", 20, URLSAFE),
        ("gitlab-runner-registration", "GR1348941", 20, URLSAFE),
        ("gitlab-trigger-token", "glptt-", 40, "0123456789abcdef"),
        ("gitlab-feed-token", "glft-", 20, URLSAFE),
        ("gitlab-incoming-mail-token", "glimt-", 25, URLSAFE),
        ("gitlab-agent-token", "glagent-", 50, URLSAFE),
        ("gitlab-scim-token", "glsoat-", 20, URLSAFE),
        ("gitlab-feature-flags-token", "glffct-", 20, URLSAFE),
    ]
    # A URL-safe body may end in "-"; end every sample on a letter so the span is exact.
    out += [(name, prefix + _pick(r, alpha, n - 1) + "a") for name, prefix, n, alpha in gitlab]
    routable = "glpat-" + _pick(r, URLSAFE, 40) + "a." + "01" + _pick(r, "abc0123456789", 7)
    out.append(("gitlab-pat", routable))
    out.append(("gitlab-job-token", "glcbt-" + _pick(r, ALNUM, 3) + "_" + _pick(r, ALNUM, 20)))
    out.append(("bitbucket-app-password", "ATBB" + _pick(r, ALNUM, 32)))
    atctt = "ATCTT3" + _pick(r, URLSAFE, 170) + "=" + _pick(r, "0123456789ABCDEF", 8)
    out.append(("bitbucket-access-token", atctt))
    atatt = "ATATT3" + _pick(r, URLSAFE, 177) + "=" + _pick(r, "0123456789ABCDEF", 8)
    out.append(("atlassian-api-token", atatt))
    out.append(("npm-token", "npm_" + _pick(r, ALNUM, 36)))
    out.append(("pypi-token", "pypi-AgEIcHlwaS5vcmc" + _pick(r, URLSAFE, 120) + "a"))
    out.append(("docker-hub-token", "dckr_pat_" + _pick(r, ALNUM, 27)))
    out.append(("aws-access-key-id", "AKIA" + _pick(r, string.ascii_uppercase + "234567", 16)))
    out.append(("aws-access-key-id", "ASIA" + _pick(r, string.ascii_uppercase + "234567", 16)))
    slack = "xoxb-" + _pick(r, string.digits, 12) + "-" + _pick(r, string.digits, 12)
    out.append(("slack-token", slack + "-" + _pick(r, ALNUM, 24)))
    out.append(("huggingface-token", "hf_" + _pick(r, string.ascii_letters, 34)))
    ant = "sk-ant-api03-" + _pick(r, URLSAFE, 93) + "AA"
    out.append(("anthropic-api-key", ant))
    out.append(("openai-api-key", "sk-" + _pick(r, ALNUM, 20) + "T3BlbkFJ" + _pick(r, ALNUM, 20)))
    proj = "sk-proj-" + _pick(r, URLSAFE, 74) + "T3BlbkFJ" + _pick(r, URLSAFE, 73) + "A"
    out.append(("openai-api-key", proj))
    out.append(("stripe-secret-key", "sk_live_" + _pick(r, ALNUM, 24)))
    out.append(("stripe-restricted-key", "rk_live_" + _pick(r, ALNUM, 24)))
    out.append(("google-api-key", "AIza" + _pick(r, URLSAFE, 34) + "Q"))
    return out


# Near misses: none of these is a token of any format.
NEAR_MISSES = [
    "ghp_" + "a" * 35,  # one short
    "xghp_" + "a" * 36,  # glued on the left
    "ghp_" + "a" * 36 + "Z" * 300,  # longer than GitHub's 255
    "ghx_" + "a" * 36,
    "GHP_" + "a" * 36,
    "glpat-" + "a" * 19,
    "ATBB" + "a" * 31,
    "npm_" + "a" * 35,
    "npm_" + "a" * 37,
    "AKIA" + "a" * 16,  # lower case
    "hf_" + "a" * 33,
    "pypi-" + "a" * 80,
    "sk-" + "a" * 48,  # no T3BlbkFJ
    "the quick brown fox jumps over the lazy dog",
    "password123",
    "",
]


def _name(fmt: tf.TokenFormat | None) -> str | None:
    return fmt.name if fmt is not None else None


def run(seed: int = 22) -> dict[str, Any]:
    """Everything a runtime computes from the table, for comparison across runtimes."""
    found: list[Any] = []
    for name, token in samples(seed):
        text = f'export TOKEN="{token}"\nurl=https://u:{token}@example.com/x\n'
        found.append(
            {
                "name": name,
                "format": _name(tf.format_of(token)),
                "kind": tf.guess_kind(" " + token + "\n"),
                "spans": [[text[s:e] == token, n] for s, e, n in tf.find_tokens(text)],
                "bytes_spans": [
                    [text.encode()[s:e] == token.encode(), n]
                    for s, e, n in tf.find_tokens(text.encode())
                ],
            }
        )
    misses = {
        miss: [tf.guess_kind(miss), list(tf.find_tokens(f" {miss} "))] for miss in NEAR_MISSES
    }
    return {"found": found, "misses": misses, "formats": [f.name for f in tf.FORMATS]}
