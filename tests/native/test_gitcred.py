"""Which item answers which git request."""

from __future__ import annotations

from dataclasses import dataclass

from native.gitcred import best_match, format_reply, parse, split_url, username_for


@dataclass
class Info:
    name: str
    kind: str
    url: str
    username: str = ""


GH = Info("gh", "github", "")
ORG = Info("org", "git", "https://github.com/acme")
REPO = Info("repo", "git", "https://github.com/acme/app.git")
LOCAL = Info("local", "git", "http://127.0.0.1:8080/")
ALL = [GH, ORG, REPO, LOCAL]


def test_host_only_request_prefers_host_items() -> None:
    assert best_match(ALL, "https", "github.com", None) is GH
    assert best_match([ORG], "https", "github.com", None) is ORG  # the only one for the host
    assert best_match([ORG, REPO], "https", "github.com", None) is None  # ambiguous


def test_longest_path_wins() -> None:
    assert best_match(ALL, "https", "github.com", "acme/app.git") is REPO
    assert best_match(ALL, "https", "github.com", "acme/other.git") is ORG
    assert best_match(ALL, "https", "github.com", "someone/else.git") is GH
    assert best_match(ALL, "https", "github.com", "acme-evil/x.git") is GH  # segment-wise


def test_scheme_host_and_port() -> None:
    assert best_match(ALL, "http", "127.0.0.1:8080", "x.git") is LOCAL
    assert best_match(ALL, "https", "127.0.0.1:8080", None) is None
    assert best_match(ALL, "http", "127.0.0.1", None) is None
    assert best_match(ALL, "https", "GitHub.com:443", None) is GH
    assert best_match(ALL, "https", "github.com.evil.net", None) is None


def test_split_url_and_defaults() -> None:
    assert split_url("https://user@Example.com:443/a/b.git/") == ("https", "example.com", "a/b")
    assert split_url("", "gitlab") == ("https", "gitlab.com", "")
    assert split_url("", "generic") is None
    assert username_for(Info("x", "gitlab", "")) == "oauth2"
    assert username_for(Info("x", "gitlab", "", "me")) == "me"


def test_protocol_text() -> None:
    assert parse("protocol=https\nhost=a=b\n\nignored=1\n") == {"protocol": "https", "host": "a=b"}
    assert format_reply("u", "p") == "username=u\npassword=p\n"
