"""``zkvault scan``: plaintext credentials found in real files written by real git, in a
temporary HOME; where they are, never what they are."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from native.scan_prefilter import may_hold_token
from tests.native.support import REPO, Env, git, make_env
from tests.unit.token_format_checks import samples
from vault_core.token_formats import FORMATS, find_tokens

TOKENS = {name: token for name, token in samples(99)}
GHP = TOKENS["github-classic-pat"]
GHO = TOKENS["github-oauth"]
GLPAT = TOKENS["gitlab-pat"]
NPM = TOKENS["npm-token"]
PYPI = TOKENS["pypi-token"]
ATBB = TOKENS["bitbucket-app-password"]
HF = TOKENS["huggingface-token"]
PASSWORD = "hunter2-not-a-format"
VALUES = [GHP, GHO, GLPAT, NPM, PYPI, ATBB, HF, PASSWORD, TOKENS["aws-access-key-id"]]


@pytest.fixture
def home() -> Iterator[Env]:
    env = make_env()
    yield env
    subprocess.run(["rm", "-rf", str(env.root)], check=False)


def zk_scan(env: Env, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "native", "scan", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env.vars, "PYTHONPATH": str(REPO)},
        cwd=cwd or REPO,
        check=False,
    )


def approve(env: Env, url: str, password: str, *config: str, cwd: Path | None = None) -> None:
    """Store a credential the way git does after a successful push: ``git credential
    approve`` through the configured helper."""
    proto, _, rest = url.partition("://")
    host = rest.split("/")[0]
    done = subprocess.run(
        ["git", *config, "credential", "approve"],
        input=f"protocol={proto}\nhost={host}\nusername=bob\npassword={password}\n\n",
        capture_output=True,
        text=True,
        env=env.vars,
        cwd=cwd,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def findings(done: subprocess.CompletedProcess[str], root: Path) -> set[tuple[str, ...]]:
    data = json.loads(done.stdout)
    assert data["ok"] is True and data["found"] == len(data["findings"])
    return {
        (
            str(Path(f["file"]).relative_to(root)),
            str(f["line"]),
            f["kind"],
            f["source"],
            f["host"] or "",
        )
        for f in data["findings"]
    }


def no_values(*outputs: str) -> None:
    text = "".join(outputs)
    for value in VALUES:
        assert value not in text
        assert value[-12:] not in text  # nor a telling part of one


def write_tool_files(h: Path) -> None:
    """gh's, glab's, netrc, npm's and pypi's files under ``h`` as those tools write them."""
    gh = h / ".config" / "gh"
    gh.mkdir(parents=True)
    (gh / "hosts.yml").write_text(
        f"github.com:\n    users:\n        bob:\n            oauth_token: {GHO}\n"
        f"    git_protocol: https\n    oauth_token: {GHO}\n    user: bob\n"
    )
    glab = h / ".config" / "glab-cli"
    glab.mkdir(parents=True)
    (glab / "config.yml").write_text(
        "git_protocol: ssh\nhosts:\n    gitlab.example.org:\n        api_protocol: https\n"
        f"        token: {GLPAT}\n    gitlab.com:\n        token: $GITLAB_TOKEN\n"
    )
    (h / ".netrc").write_text(
        f"machine api.example.com\n  login bob\n  password {PASSWORD}\n"
        "macdef init\npassword notareal one\n\n"
        f"machine huggingface.co login bob password {HF}\n"
    )
    (h / ".npmrc").write_text(
        f"//registry.npmjs.org/:_authToken={NPM}\n"
        "//npm.example.com/:_authToken=${NPM_TOKEN}\nfund=false\n"
    )
    (h / ".pypirc").write_text(
        "[distutils]\nindex-servers =\n    pypi\n    private\n\n"
        f"[pypi]\nusername = __token__\npassword = {PYPI}\n\n"
        "[private]\nrepository = https://pypi.example.com/simple\nusername = bob\n"
        f"password = {PASSWORD}\n"
    )


TOOL_FINDINGS = {
    (".config/gh/hosts.yml", "4", "github-oauth", "gh", "github.com"),
    (".config/gh/hosts.yml", "6", "github-oauth", "gh", "github.com"),
    (".config/glab-cli/config.yml", "5", "gitlab-pat", "glab", "gitlab.example.org"),
    (".netrc", "3", "password", "netrc", "api.example.com"),
    (".netrc", "7", "huggingface-token", "netrc", "huggingface.co"),
    (".npmrc", "1", "npm-token", "npmrc", "registry.npmjs.org"),
    (".pypirc", "8", "pypi-token", "pypirc", "upload.pypi.org"),
    (".pypirc", "13", "password", "pypirc", "pypi.example.com"),
}


def test_home_credential_files(home: Env) -> None:
    h = Path(home.vars["HOME"])
    # git's own credential store, written by git: the default file, then --file.
    assert git(home, "config", "--global", "credential.helper", "store").returncode == 0
    approve(home, "https://github.com", GHP)
    other = h / "secrets" / "creds"
    other.parent.mkdir()
    helper = f"store --file {other}"
    assert git(home, "config", "--global", "--add", "credential.helper", helper).returncode == 0
    approve(
        home,
        "https://bitbucket.org",
        ATBB,
        "-c",
        "credential.helper=",
        "-c",
        f"credential.helper={helper}",
    )
    write_tool_files(h)
    done = zk_scan(home, "--json")
    assert done.returncode == 20, done.stderr
    assert findings(done, h) == TOOL_FINDINGS | {
        (".git-credentials", "1", "github-classic-pat", "git-credentials", "github.com"),
        ("secrets/creds", "1", "bitbucket-app-password", "git-credentials", "bitbucket.org"),
    }
    no_values(done.stdout, done.stderr)
    text = zk_scan(home)
    assert text.returncode == 20
    assert "~/.git-credentials:1: github-classic-pat at github.com (git-credentials)\n" in (
        text.stdout
    )
    assert text.stderr.startswith("10 plaintext credential(s) in 7 file(s);")
    no_values(text.stdout, text.stderr)


def make_repo(env: Env, path: Path) -> None:
    path.mkdir(parents=True)
    assert git(env, "init", "-q", str(path)).returncode == 0


PROJECT_FINDINGS = {
    ("app/.git/config", "7", "gitlab-pat", "git-config", "gitlab.com"),
    ("app/.git/config", "10", "github-classic-pat", "git-config", "github.com"),
    ("app/.git/local-creds", "1", "gitlab-pat", "git-credentials", "gitlab.com"),
    ("nested/lib/.git/config", "7", "password", "git-config", "example.com"),
    ("app/.env", "1", "github-classic-pat", "env", ""),
    ("app/.env", "2", "secret", "env", ""),
    ("app/.env.production", "1", "huggingface-token", "env", ""),
    ("app/src/settings.py", "2", "aws-access-key-id", "file", ""),
    ("app/.npmrc", "1", "npm-token", "npmrc", "npm.example.com"),
}


def make_project(home: Env, tree: Path) -> Path:
    """Two repositories with remotes and a store file, and project files; PROJECT_FINDINGS
    are what a scan of ``tree`` finds. Returns the first repository."""
    make_repo(home, tree / "app")
    app = tree / "app"
    for name, url in [
        ("origin", f"https://oauth2:{GLPAT}@gitlab.com/team/app.git"),
        ("mirror", f"https://{GHP}@github.com/team/app.git"),
        ("clean", "https://github.com/team/app.git"),
        ("user", "https://bob@bitbucket.org/team/app.git"),
        ("ssh", "git@github.com:team/app.git"),
    ]:
        assert git(home, "remote", "add", name, url, cwd=app).returncode == 0
    # A repository-local store file, written by git through the repository's own config.
    assert git(home, "config", "credential.helper", "store --file .git/local-creds", cwd=app)
    approve(home, "https://gitlab.com", GLPAT, cwd=app)
    make_repo(home, tree / "nested" / "lib")
    lib = tree / "nested" / "lib"
    assert (
        git(
            home,
            "remote",
            "add",
            "origin",
            "https://bob:" + PASSWORD + "@example.com/l.git",
            cwd=lib,
        ).returncode
        == 0
    )
    (app / ".env").write_text(
        f"GITHUB_TOKEN={GHP}\nexport DB_PASSWORD='{PASSWORD}'\nFOO=bar\nAPI_KEY=${{KEY}}\n"
        "# SECRET=commented\nEMPTY_TOKEN=\n"
    )
    (app / ".env.production").write_text(f"HF_TOKEN={HF}\n")
    (app / "src").mkdir()
    (app / "src" / "settings.py").write_text(f"x = 1\nAWS = '{TOKENS['aws-access-key-id']}'\n")
    (app / "README.md").write_text("Set GITHUB_TOKEN to a token starting with ghp_.\n")
    # Not read: node_modules, binary files, the .git object store, symbolic links.
    (app / "node_modules" / "pkg").mkdir(parents=True)
    (app / "node_modules" / "pkg" / "index.js").write_text(f"t='{GHP}'\n")
    (app / "blob.bin").write_bytes(b"\0\1\2" + GHP.encode())
    (app / ".git" / "objects" / "stray").write_text(GHP)
    (app / "link").symlink_to(app / "node_modules" / "pkg" / "index.js")
    (app / ".npmrc").write_text(f"//npm.example.com/:_authToken={NPM}\n")
    return app


def test_repositories_and_project_files(home: Env) -> None:
    tree = home.root / "work"
    app = make_project(home, tree)
    done = zk_scan(home, "--json", str(tree))
    assert done.returncode == 20, done.stderr
    assert findings(done, tree) == PROJECT_FINDINGS
    data = json.loads(done.stdout)
    assert data["skipped_binary"] == 1
    no_values(done.stdout, done.stderr)
    # Scanning one file named on the command line, and a clean tree: exit 0.
    one = zk_scan(home, "--json", str(app / "src" / "settings.py"))
    assert one.returncode == 20 and json.loads(one.stdout)["found"] == 1
    (home.root / "clean").mkdir()
    (home.root / "clean" / "a.txt").write_text("nothing here\n")
    clean = zk_scan(home, str(home.root / "clean"))
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout == ""
    assert clean.stderr == "0 plaintext credential(s) in 0 file(s); 1 file(s) scanned\n"


def test_errors_name_no_value(home: Env) -> None:
    missing = zk_scan(home, str(home.root / "nope"))
    assert missing.returncode == 4
    assert missing.stderr == f"zkvault: no such file or directory: {home.root / 'nope'}\n"
    # A file too large to scan is counted, and its content never shows.
    big = home.root / "big.log"
    big.write_text(("x" * 1000 + "\n") * 3000 + GHP)
    done = zk_scan(home, "--json", str(home.root))
    assert done.returncode == 0
    assert json.loads(done.stdout)["skipped_large"] == 1
    no_values(done.stdout, done.stderr)
    bad = zk_scan(home, "--bogus")
    assert bad.returncode == 2
    no_values(bad.stdout, bad.stderr)


def test_every_source_is_found_in_a_large_tree(home: Env) -> None:
    """The walk reads files in batches and searches a batch's bytes once for token prefixes
    (native.scan_prefilter): inside thousands of clean files, some of them naming token
    prefixes in prose, every documented source is still found, and nothing else."""
    tree = home.root / "big"
    filler = "def build(self, value):\n    return self.config[value]  # see the item's path\n"
    lookalikes = "Tokens start with ghp_, glpat- or npm_; sk-learn and AKIA are not ones.\n"
    for d in range(40):
        directory = tree / f"src{d:02d}" / "pkg"
        directory.mkdir(parents=True)
        for i in range(75):
            text = lookalikes if (d * 75 + i) % 97 == 0 else filler * (1 + i % 7)
            (directory / f"m{i}.py").write_text(text)
        if d == 17:
            make_project(home, directory / "work")
            write_tool_files(directory / "home")
            (directory / "home" / ".git-credentials").write_text(f"https://bob:{GHP}@github.com\n")
    done = zk_scan(home, "--json", str(tree))
    assert done.returncode == 20, done.stderr
    base = "src17/pkg/"
    assert findings(done, tree) == {(base + "work/" + f[0], *f[1:]) for f in PROJECT_FINDINGS} | {
        (base + "home/" + f[0], *f[1:]) for f in TOOL_FINDINGS
    } | {
        (base + "home/.git-credentials", "1", "github-classic-pat", "git-credentials", "github.com")
    }
    assert json.loads(done.stdout)["files_scanned"] > 3000
    no_values(done.stdout, done.stderr)


def test_the_prefilter_admits_a_token_of_every_format() -> None:
    seen = set()
    for seed in range(3):
        for name, token in samples(seed):
            text = f"value = '{token}'\n".encode()
            assert [f for _s, _e, f in find_tokens(text)] == [name]
            assert may_hold_token(text), name
            seen.add(name)
    assert seen == {fmt.name for fmt in FORMATS}
    assert not may_hold_token(b"def build(self, value):\n    return self.config[value]\n")
