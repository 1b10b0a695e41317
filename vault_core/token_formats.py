"""The published formats of the tokens a build commonly holds (docs/tokens.md).

One table, ``FORMATS``, drives three uses:

- ``guess_kind(secret)``: the vault item kind a pasted secret belongs to;
- ``kind_warning(kind, secret)``: a sentence when a token is stored under the wrong kind;
- ``find_tokens(text)``: every token of a known format in a text (str or bytes), for
  scanning files and masking a command's output.

Only formats with a distinctive, published prefix are listed, so a match is rarely chance.
Every pattern is bounded (no unbounded repetition), and the one combined regular
expression therefore does at most a constant amount of work per input position: scanning
is linear in the input, whatever it holds. Nothing here ever puts a secret into a message.
Standard library only: this runs in the browser's Pyodide worker too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

from .items import KINDS

# A token starts and ends at a boundary: no ASCII letter or digit right before or after it,
# so ``xghp_…`` or a token glued to more alphanumerics is not taken for one.
_AFTER = r"(?![A-Za-z0-9])"
# GitHub: "plan to support tokens up to 255 characters" (changelog, 2021-03-04).
_GITHUB_MAX = 255
# GitLab's routable tokens (17.x+) carry a base64url payload of varying length, then
# ".<2 version chars><7 base36 chars>"; the bound only caps the work done per position.
_GITLAB_MAX = 300
_GITLAB_ROUTABLE = r"(?:\.[0-9a-z]{9})?"


@dataclass(frozen=True)
class TokenFormat:
    """One published token format. ``pattern`` matches the whole token and nothing else."""

    name: str  # stable identifier, shown by ``zkvault scan`` and in docs/tokens.md
    kind: str  # the vault item kind (vault_core.items.KINDS)
    label: str  # what the token is, for people
    prefix: str
    pattern: str
    published: str  # the documented length and alphabet, for docs/tokens.md
    also: tuple[str, ...] = ()  # other prefixes the same body follows (ASIA beside AKIA)


def _github(name: str, prefix: str, label: str) -> TokenFormat:
    rest = _GITHUB_MAX - len(prefix)
    return TokenFormat(
        name,
        "github",
        label,
        prefix,
        rf"{prefix}[A-Za-z0-9_]{{36,{rest}}}",
        f"`{prefix}` + 36 of [A-Za-z0-9] (40 in all; up to 255 accepted)",
    )


def _gitlab(
    name: str, prefix: str, label: str, body: int, charset: str = "A-Za-z0-9_-"
) -> TokenFormat:
    return TokenFormat(
        name,
        "gitlab",
        label,
        prefix,
        rf"{re.escape(prefix)}[{charset}]{{{body},{_GITLAB_MAX}}}{_GITLAB_ROUTABLE}",
        f"`{prefix}` + {body} of [{charset}] (longer routable form accepted)",
    )


FORMATS: tuple[TokenFormat, ...] = (
    # GitHub ("About authentication to GitHub", "GitHub's token formats").
    TokenFormat(
        "github-fine-grained-pat",
        "github",
        "GitHub fine-grained personal access token",
        "github_pat_",
        rf"github_pat_[A-Za-z0-9_]{{82,{_GITHUB_MAX - 11}}}",
        "`github_pat_` + 22 of [A-Za-z0-9] + `_` + 59 of [A-Za-z0-9] (93 in all)",
    ),
    _github("github-classic-pat", "ghp_", "GitHub personal access token (classic)"),
    _github("github-oauth", "gho_", "GitHub OAuth access token"),
    _github("github-user-to-server", "ghu_", "GitHub App user access token"),
    _github("github-server-to-server", "ghs_", "GitHub App installation access token"),
    _github("github-refresh", "ghr_", "GitHub App refresh token"),
    # GitLab ("Token overview", "Token prefixes").
    _gitlab("gitlab-pat", "glpat-", "GitLab personal, project, group or impersonation token", 20),
    _gitlab("gitlab-oauth-secret", "gloas-", "GitLab OAuth application secret", 64),
    _gitlab("gitlab-deploy-token", "gldt-", "GitLab deploy token", 20),
    _gitlab("gitlab-runner-token", "glrt-", "GitLab runner authentication token", 20),
    _gitlab("gitlab-runner-token-routable", "glrtr-", "GitLab runner authentication token", 20),
    _gitlab("gitlab-runner-registration", "GR1348941", "GitLab runner registration token", 20),
    TokenFormat(
        "gitlab-job-token",
        "gitlab",
        "GitLab CI/CD job token",
        "glcbt-",
        rf"glcbt-[0-9A-Za-z]{{1,5}}_[A-Za-z0-9_-]{{20,{_GITLAB_MAX}}}{_GITLAB_ROUTABLE}",
        "`glcbt-` + 1 to 5 of [0-9A-Za-z] + `_` + 20 of [A-Za-z0-9_-]",
    ),
    _gitlab("gitlab-trigger-token", "glptt-", "GitLab pipeline trigger token", 40, "0-9a-f"),
    _gitlab("gitlab-feed-token", "glft-", "GitLab feed token", 20),
    _gitlab("gitlab-incoming-mail-token", "glimt-", "GitLab incoming email token", 25),
    _gitlab("gitlab-agent-token", "glagent-", "GitLab agent for Kubernetes token", 50),
    _gitlab("gitlab-scim-token", "glsoat-", "GitLab SCIM token", 20),
    _gitlab("gitlab-feature-flags-token", "glffct-", "GitLab feature flags client token", 20),
    # Bitbucket Cloud and Atlassian.
    TokenFormat(
        "bitbucket-app-password",
        "bitbucket",
        "Bitbucket app password",
        "ATBB",
        r"ATBB[A-Za-z0-9]{32}",
        "`ATBB` + 32 of [A-Za-z0-9] (36 in all)",
    ),
    TokenFormat(
        "bitbucket-access-token",
        "bitbucket",
        "Bitbucket repository, project or workspace access token",
        "ATCTT",
        r"ATCTT3[A-Za-z0-9_=-]{100,300}",
        "`ATCTT3` + base64url text, `=` and an 8-hex-digit checksum (about 190 in all)",
    ),
    TokenFormat(
        "atlassian-api-token",
        "bitbucket",
        "Atlassian API token (Bitbucket Cloud, Jira, Confluence)",
        "ATATT",
        r"ATATT3[A-Za-z0-9_=-]{186}",
        "`ATATT3` + 186 of [A-Za-z0-9_=-] (192 in all)",
    ),
    # Package registries.
    TokenFormat(
        "npm-token",
        "generic",
        "npm access token",
        "npm_",
        r"npm_[A-Za-z0-9]{36}",
        "`npm_` + 36 of [A-Za-z0-9] (40 in all)",
    ),
    TokenFormat(
        "pypi-token",
        "generic",
        "PyPI API token",
        "pypi-",
        r"pypi-AgE[A-Za-z0-9_-]{50,1000}",
        "`pypi-` + a base64url macaroon starting `AgE` (`AgEIcHlwaS5vcmc` on pypi.org)",
    ),
    TokenFormat(
        "docker-hub-token",
        "generic",
        "Docker Hub personal or organization access token",
        "dckr_pat_",
        r"dckr_pat_[A-Za-z0-9_-]{27,64}",
        "`dckr_pat_` or `dckr_oat_` + 27 or more of [A-Za-z0-9_-]",
        also=("dckr_oat_",),
    ),
    # Cloud and other services.
    TokenFormat(
        "aws-access-key-id",
        "generic",
        "AWS access key ID (long-term AKIA, temporary ASIA)",
        "AKIA",
        r"AKIA[A-Z0-9]{16}",
        "`AKIA` or `ASIA` + 16 of [A-Z0-9] (20 in all)",
        also=("ASIA",),
    ),
    TokenFormat(
        "slack-token",
        "generic",
        "Slack bot, user, app-level or configuration token",
        "xoxb-",
        r"xoxb-[A-Za-z0-9-]{10,250}",
        "`xoxb-`, `xoxp-`, `xoxe-`, `xapp-`… + digits, letters and dashes",
        also=("xoxa-", "xoxe-", "xoxo-", "xoxp-", "xoxr-", "xoxs-", "xapp-"),
    ),
    TokenFormat(
        "huggingface-token",
        "generic",
        "Hugging Face access token",
        "hf_",
        r"hf_[A-Za-z]{34}",
        "`hf_` + 34 of [A-Za-z] (37 in all)",
    ),
    TokenFormat(
        "anthropic-api-key",
        "generic",
        "Anthropic API key",
        "sk-ant-",
        r"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,200}",
        "`sk-ant-api03-` or `sk-ant-admin01-` + 80 or more of [A-Za-z0-9_-]",
    ),
    TokenFormat(
        "openai-api-key",
        "generic",
        "OpenAI API key",
        "sk-",
        r"sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{58,74}|[A-Za-z0-9]{20})"
        r"T3BlbkFJ[A-Za-z0-9_-]{20,74}",
        "`sk-` + 20, or `sk-proj-` (`svcacct-`, `admin-`) + 58 to 74 characters, then"
        " `T3BlbkFJ` (base64 of “OpenAI”) and as many again",
    ),
    TokenFormat(
        "stripe-secret-key",
        "generic",
        "Stripe live secret key",
        "sk_live_",
        r"sk_live_[A-Za-z0-9]{24,247}",
        "`sk_live_` + 24 or more of [A-Za-z0-9]",
    ),
    TokenFormat(
        "stripe-restricted-key",
        "generic",
        "Stripe live restricted key",
        "rk_live_",
        r"rk_live_[A-Za-z0-9]{24,247}",
        "`rk_live_` + 24 or more of [A-Za-z0-9]",
    ),
    TokenFormat(
        "google-api-key",
        "generic",
        "Google API key",
        "AIza",
        r"AIza[A-Za-z0-9_-]{35}",
        "`AIza` + 35 of [A-Za-z0-9_-] (39 in all)",
    ),
)

BY_NAME = {fmt.name: fmt for fmt in FORMATS}
_PROVIDER_KINDS = frozenset({"github", "gitlab", "bitbucket"})
assert all(fmt.kind in KINDS for fmt in FORMATS)
assert len(BY_NAME) == len(FORMATS)


def _body(fmt: TokenFormat) -> str:
    """``fmt.pattern`` after its literal prefix."""
    for literal in (re.escape(fmt.prefix), fmt.prefix):
        if fmt.pattern.startswith(literal):
            return fmt.pattern[len(literal) :]
    raise AssertionError(f"{fmt.name}: the pattern does not start with the prefix")


def _trie(entries: list[tuple[str, str]]) -> str:
    """One alternation for (literal still to match, regex after it) pairs, sharing common
    literal prefixes, longer literals tried first."""
    children: dict[str, list[tuple[str, str]]] = {}
    ends = []
    for literal, rest in entries:
        if literal:
            children.setdefault(literal[0], []).append((literal[1:], rest))
        else:
            ends.append(rest)
    alternatives = [re.escape(c) + _trie(sub) for c, sub in children.items()] + ends
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def _combined() -> str:
    """One regular expression for every format: a trie of the literal prefixes.

    Every top-level alternative starts with a literal character, so the regex engine's
    search skips in C every position whose character begins no format; the left boundary
    is checked only after that character (a fixed-width look-behind), and the shared
    prefixes are compared once. At the same position a longer prefix is tried first
    (``sk-ant-`` before ``sk-``).
    """
    roots: dict[str, list[tuple[str, str]]] = {}
    for i, fmt in enumerate(FORMATS):
        body = _body(fmt)
        for j, prefix in enumerate((fmt.prefix, *fmt.also)):
            assert prefix[0].isalnum(), fmt.name
            roots.setdefault(prefix[0], []).append((prefix[1:], f"(?P<f{i}_{j}>{body})"))
    branches = [
        f"{re.escape(first)}(?<![A-Za-z0-9]{re.escape(first)}){_trie(entries)}"
        for first, entries in roots.items()
    ]
    return "(?:" + "|".join(branches) + ")" + _AFTER


_SOURCE = _combined()
_TEXT = re.compile(_SOURCE)
_BYTES: list[re.Pattern[bytes]] = []  # compiled on first use: the worker scans only text
_GROUP = {f"f{i}_{j}": fmt for i, fmt in enumerate(FORMATS) for j in range(1 + len(fmt.also))}
# The longest token any pattern can match: a streaming scanner holds back this many bytes.
MAX_TOKEN_LENGTH = 1024
# Every character any token can contain, and those a token can begin with: a streaming
# scanner needs to hold back only a trailing run of TOKEN_CHARS that has a possible start.
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=.")
FIRST_CHARS = frozenset(prefix[0] for fmt in FORMATS for prefix in (fmt.prefix, *fmt.also))
PREFIXES = frozenset(prefix for fmt in FORMATS for prefix in (fmt.prefix, *fmt.also))


def format_of(secret: str) -> TokenFormat | None:
    """The format ``secret`` (surrounding white space ignored) has as a whole, or None."""
    match = _TEXT.fullmatch(secret.strip())
    return _GROUP[match.lastgroup] if match is not None and match.lastgroup else None


def guess_kind(secret: str) -> str | None:
    """The item kind a secret of a known format belongs to (``github``, ``gitlab``,
    ``bitbucket``, ``generic``), or None when its format is not known."""
    fmt = format_of(secret)
    return fmt.kind if fmt is not None else None


def kind_warning(kind: str, secret: str) -> str | None:
    """A sentence when ``secret`` has a known format that belongs to another kind than
    ``kind``; None when the kind fits or the format is not known. Never quotes the secret.

    A GitHub token fits github-enterprise too (GitHub Enterprise Server uses the same
    prefixes), and any Git host's token fits kind ``git`` (a host named by its url).
    """
    fmt = format_of(secret)
    if fmt is None or fmt.kind == kind:
        return None
    if fmt.kind == "github" and kind == "github-enterprise":
        return None
    if kind == "git" and fmt.kind in _PROVIDER_KINDS:
        return None
    return f"This looks like a {fmt.label}, which is usually stored as kind {fmt.kind}, not {kind}."


@overload
def find_tokens(text: str) -> Iterator[tuple[int, int, str]]: ...
@overload
def find_tokens(text: bytes) -> Iterator[tuple[int, int, str]]: ...
def find_tokens(text: str | bytes) -> Iterator[tuple[int, int, str]]:
    """Every token of a known format in ``text``: (start, end, format name), left to right,
    not overlapping. Linear time in ``len(text)``."""
    return _find(text, 0)


def _find(text: str | bytes, pos: int) -> Iterator[tuple[int, int, str]]:
    if isinstance(text, bytes):
        if not _BYTES:
            _BYTES.append(re.compile(_SOURCE.encode("ascii")))
        matches: Iterator[re.Match[bytes]] | Iterator[re.Match[str]] = _BYTES[0].finditer(text, pos)
    else:
        matches = _TEXT.finditer(text, pos)
    for match in matches:
        group = match.lastgroup
        if group is not None:
            yield match.start(), match.end(), _GROUP[group].name


def find_tokens_from(data: bytes, pos: int) -> Iterator[tuple[int, int, str]]:
    """``find_tokens`` from ``pos`` on, with the bytes before ``pos`` as context (a token
    right after a letter or digit is no token): for a streaming scanner's held-back tail."""
    return _find(data, pos)
