"""Which item answers which git request."""

from __future__ import annotations

from dataclasses import dataclass

from native.gitcred import (
    best_match,
    format_reply,
    no_match_message,
    parse,
    split_url,
    username_for,
)


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
    assert best_match(ALL, "http", "127.0.0.1", None) is None  # LOCAL names port 8080, not 80
    assert best_match(ALL, "https", "GitHub.com:443", None) is GH
    assert best_match(ALL, "https", "github.com.evil.net", None) is None


def test_an_item_without_a_port_serves_any_port_unless_one_names_it() -> None:
    bare = Info("bare", "git", "127.0.0.1")
    on_9500 = Info("9500", "git", "http://127.0.0.1:9500")
    assert best_match([bare], "http", "127.0.0.1:9500", None) is bare
    assert best_match([bare], "https", "127.0.0.1", "a/b.git") is bare
    assert best_match([bare, on_9500], "http", "127.0.0.1:9500", None) is on_9500
    assert best_match([bare, on_9500], "http", "127.0.0.1:9600", None) is bare
    # The port wins over a longer path on another tier.
    deep = Info("deep", "git", "http://127.0.0.1/acme/app")
    assert best_match([deep, on_9500], "http", "127.0.0.1:9500", "acme/app.git") is on_9500
    assert best_match(
        [Info("h", "git", "https://git.example.org")], "https", "git.example.org:8443", None
    )
    assert best_match([Info("v6", "git", "http://[::1]:9500/")], "http", "[::1]:9500", None)


def test_provider_kinds_serve_their_public_host() -> None:
    for kind, host in (
        ("github", "github.com"),
        ("github-enterprise", "github.com"),
        ("gitlab", "gitlab.com"),
        ("bitbucket", "bitbucket.org"),
    ):
        item = Info(kind, kind, "")
        assert best_match([item], "https", host, None) is item
        assert best_match([item], "https", host, "any/repo.git") is item
        assert best_match([item], "http", host, None) is None  # the default host is https
    assert best_match([Info("g", "git", "")], "https", "github.com", None) is None
    assert best_match([Info("g", "generic", "")], "https", "github.com", None) is None


def test_split_url_and_defaults() -> None:
    assert split_url("https://user@Example.com:443/a/b.git/") == ("https", "example.com", "", "a/b")
    assert split_url("http://h:8080/x") == ("http", "h", "8080", "x")
    assert split_url("git@github.com:acme/app.git") == ("", "github.com", "", "acme/app")
    assert split_url("[::1]:9500") == ("", "::1", "9500", "")
    assert split_url("", "gitlab") == ("https", "gitlab.com", "", "")
    assert split_url("", "generic") is None
    assert username_for(Info("x", "gitlab", "")) == "oauth2"
    assert username_for(Info("x", "gitlab", "", "me")) == "me"


def test_no_match_names_the_closest_items() -> None:
    items = [
        Info("gitea", "git", "http://127.0.0.1:9400"),
        GH,
        Info("corp", "git", "https://git.corp.example"),
    ]
    line = no_match_message(items, "http", "127.0.0.1:9500", "acme/app.git")
    assert (
        line
        == "no item matches http://127.0.0.1:9500/acme/app; closest: 'gitea' (http://127.0.0.1:9400)"
    )
    line = no_match_message(items, "https", "gitlab.corp.example", None)
    assert (
        line
        == "no item matches https://gitlab.corp.example; closest: 'corp' (https://git.corp.example)"
    )
    assert (
        no_match_message(items, "https", "example.org", None)
        == "no item matches https://example.org"
    )
    line = no_match_message([ORG, REPO], "https", "github.com", None)
    assert "several items match https://github.com by path" in line
    assert "credential.useHttpPath" in line
    assert "\n" not in line


def test_protocol_text() -> None:
    assert parse("protocol=https\nhost=a=b\n\nignored=1\n") == {"protocol": "https", "host": "a=b"}
    assert format_reply("u", "p") == "username=u\npassword=p\n"


def test_norm_host() -> None:
    from native.gitcred import norm_host

    assert norm_host("https", "GitHub.com:443") == "github.com"
    assert norm_host("http", "127.0.0.1:9500") == "127.0.0.1:9500"
    assert norm_host("https", "[::1]:443") == "[::1]"
    assert norm_host("https", "[::1]:8443") == "[::1]:8443"
