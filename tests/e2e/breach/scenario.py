"""Realistic use by two people, each with a browser, a paired laptop and CI runners.

Every secret is fresh per run (an independent rerun searches for other values). The
people act only through the real interfaces: the web app in Chromium (a persistent
profile, with a HAR of all its traffic) and the real `zkvault` CLI, whose traffic passes
through a recording proxy.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Playwright

from tests.e2e.conftest import CHROMIUM_ARGS, App, attach_app
from tests.native.support import Env, make_env, start_pairing
from tests.support.httpproxy import HttpProxy
from tests.support.processes import ServerProcess

CODE = r"enter the code (\S+) "
LINK = r"^\s+(http\S+/pair#code=\S+)$"
UNKNOWN = uuid.UUID(int=0)  # an id not learned yet


def _token(prefix: str, n: int = 36) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def fresh_passphrase() -> str:
    # Non-ASCII on purpose: UTF-8, UTF-16 and JSON-escaped forms then differ from ASCII.
    return f"{secrets.token_urlsafe(9)} čerešňa {secrets.token_urlsafe(9)}"


@dataclass
class Credential:
    """One vault item as the person types it; every field but ``kind`` is searched for."""

    name: str
    kind: str
    url: str
    username: str
    secret: str
    note: str

    @classmethod
    def fresh(cls, kind: str, prefix: str, host: str) -> Credential:
        tag = secrets.token_hex(4)
        return cls(
            name=f"{kind}-{tag}",
            kind=kind,
            url=f"https://{host}-{tag}.example.test",
            username=f"svc-{secrets.token_hex(5)}",
            secret=_token(prefix),
            note=f"rotate quarterly, ticket {secrets.token_hex(6)}",
        )


@dataclass
class Runner:
    name: str
    env: Env
    credential: str = field(repr=False, default="")
    runner_id: uuid.UUID = UNKNOWN
    granted: list[str] = field(default_factory=list)

    @property
    def vars(self) -> dict[str, str]:
        return {"ZKVAULT_RUNNER_CREDENTIAL": self.credential}

    def get(self, name: str) -> tuple[int, str, str]:
        done = self.env.zk("get", name, extra=self.vars)
        return done.returncode, done.stdout.rstrip("\n"), done.stderr


@dataclass
class Person:
    label: str  # "alice", for the tables; the OIDC subject is fresh per run
    sub: str
    passphrases: list[str]  # in the order used; the last one is current
    app: App
    profile: Path
    har: Path
    laptop: Env
    runners: dict[str, Runner] = field(default_factory=dict)
    items: dict[str, Credential] = field(default_factory=dict)
    retired: list[Credential] = field(default_factory=list)  # removed or rotated away
    team_items: list[Credential] = field(default_factory=list)  # those this person wrote
    account_id: uuid.UUID = UNKNOWN
    browser_open: bool = True

    @property
    def passphrase(self) -> str:
        return self.passphrases[-1]

    def secret_values(self) -> dict[str, str]:
        """Everything this person typed as a passphrase or put in the vault, named
        "kind | whose what"."""
        found = {f"passphrase | {self.label}: {i + 1}": p for i, p in enumerate(self.passphrases)}
        for cred in [*self.items.values(), *self.retired]:
            found[f"token | {self.label}: {cred.name}"] = cred.secret
            for what in ("name", "url", "username", "note"):
                found[f"item metadata | {self.label}: {cred.name} {what}"] = getattr(cred, what)
        for cred in self.team_items:
            found[f"team token | {self.label}: {cred.name}"] = cred.secret
            for what in ("name", "url", "username", "note"):
                found[f"team item metadata | {self.label}: {cred.name} {what}"] = getattr(
                    cred, what
                )
        return found

    @property
    def email(self) -> str:
        return f"{self.sub}@example.test"  # what the test IdP gives (App.sign_in)


def _launch(
    pw: Playwright, profile: Path, server: ServerProcess, idp: str, har: Path | None = None
) -> App:
    """A browser on a persistent profile; with ``har``, every request and response (bodies
    embedded) recorded there."""
    context = pw.chromium.launch_persistent_context(
        # The basic password store (no keyring here anyway): what it encrypts, the search
        # decrypts (artefacts.chromium_decrypted).
        str(profile),
        executable_path="/usr/bin/chromium",
        args=[*CHROMIUM_ARGS, "--password-store=basic"],
        record_har_path=str(har) if har else None,
        record_har_content="embed" if har else None,
    )
    return attach_app(context, server, idp)


def open_browser(
    pw: Playwright, root: Path, label: str, server: ServerProcess, idp: str
) -> tuple[App, Path, Path]:
    """A browser with its own profile on disk, recording all its traffic as a HAR."""
    profile, har = root / f"{label}-profile", root / f"{label}.har"
    app = _launch(pw, profile, server, idp, har)
    return app, profile, har


def reopen_browser(person: Person, pw: Playwright, server: ServerProcess, idp: str) -> None:
    """The same profile again (still signed in) after its browser was closed for the dump."""
    person.app = _launch(pw, person.profile, server, idp)
    person.app.open("/")
    person.app.wait_engine()
    person.browser_open = True


def add(person: Person, cred: Credential) -> None:
    person.app.go("Credentials")
    person.app.add_item(
        cred.name, cred.secret, kind=cred.kind, url=cred.url, username=cred.username, note=cred.note
    )
    person.items[cred.name] = cred


def rotate(person: Person, name: str) -> None:
    old = person.items[name]
    new = Credential(old.name, old.kind, old.url, old.username, _token(old.secret[:4]), old.note)
    page = person.app.page
    person.app.go("Credentials")
    person.app.item_menu(name, "Edit")
    page.locator("#item-form").get_by_label("Token").fill(new.secret)
    page.get_by_role("button", name="Save", exact=True).click()
    person.app.notice(f"Saved “{name}”")
    person.retired.append(old)
    person.items[name] = new


def remove(person: Person, name: str) -> None:
    person.app.go("Credentials")
    person.app.item_menu(name, "Remove")
    person.app.confirm_dialog("Remove")
    person.app.notice(f"Removed “{name}”")
    person.retired.append(person.items.pop(name))


def change_passphrase(person: Person) -> None:
    new = fresh_passphrase()
    page = person.app.page
    person.app.go("Settings")
    page.get_by_label("Current passphrase").fill(person.passphrase)
    page.get_by_label("New passphrase", exact=True).fill(new)
    page.get_by_label("Confirm new passphrase").fill(new)
    page.get_by_role("button", name="Change passphrase").click()
    person.app.notice("Passphrase changed")
    person.passphrases.append(new)


def approve(app: App, code: str, fingerprint: str) -> None:
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(code)
    app.page.get_by_role("button", name="Look up").click()
    app.page.wait_for_selector("#pair-details:not([hidden])")
    assert app.page.locator("#pair-fingerprint").text_content() == fingerprint
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice("Approved")


def pair_laptop(person: Person, proxy: HttpProxy, *, by_link: bool = False) -> None:
    """Pair by typing the code, or by opening the one-time link the CLI prints (a full
    page load: the person unlocks again, then approves)."""
    proc, shown, fingerprint = start_pairing(
        person.laptop,
        "connect",
        "--server",
        proxy.url,
        "--name",
        f"{person.label}-laptop",
        show=LINK if by_link else CODE,
    )
    if by_link:
        person.app.page.goto(shown)
        person.app.unlock(person.passphrase)
        person.app.page.wait_for_selector("#pair-details:not([hidden])")
        assert person.app.page.locator("#pair-fingerprint").text_content() == fingerprint
        person.app.page.get_by_role("button", name="Approve", exact=True).click()
        person.app.notice("Approved")
    else:
        approve(person.app, shown, fingerprint)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def reveal(person: Person, name: str) -> None:
    """Show a token in the page, as a person checking it would (the page masks it again)."""
    person.app.go("Credentials")
    person.app.item_menu(name, "Show token")
    person.app.page.wait_for_function(
        '([n, t]) => document.querySelector(`#items-body [data-item="${n}"]`)'
        ".textContent.includes(t)",
        arg=[name, person.items[name].secret],
    )


def unlock_laptop(person: Person) -> None:
    person.laptop.zk("lock")
    done = person.laptop.unlock(passphrase=person.passphrase)
    assert done.returncode == 0, done.stderr
    for cred in person.items.values():
        got = person.laptop.zk("get", cred.name)
        assert got.returncode == 0 and got.stdout == cred.secret + "\n", got.stderr


def enrol_runner(person: Person, proxy: HttpProxy, name: str) -> Runner:
    runner = Runner(name, make_env())
    # Enrolled without a terminal: the person passes the owner fingerprint the page shows.
    person.app.go("Machines & runners")
    person.app.page.wait_for_function(
        "() => /^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$/"
        ".test(document.querySelector('#owner-fingerprint').textContent)"
    )
    owner = person.app.page.locator("#owner-fingerprint").text_content() or ""
    proc, code, fingerprint = start_pairing(
        runner.env,
        "runner",
        "enroll",
        "--name",
        name,
        "--server",
        proxy.url,
        "--owner-fingerprint",
        owner,
        show=CODE,
    )
    approve(person.app, code, fingerprint)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    runner.credential = out.strip()
    # Where a CI system keeps it: the one file the breach search leaves out.
    (runner.env.root / "ci-secret").write_text(runner.credential)
    person.runners[name] = runner
    return runner


def grant(person: Person, runner: Runner, names: list[str]) -> None:
    app = person.app
    app.go("Machines & runners")
    app.page.get_by_role("button", name=f"Grant items to {runner.name}").click()
    for name in names:
        app.page.get_by_role("checkbox", name=name, exact=True).check()
    app.page.get_by_role("button", name="Save grant").click()
    app.notice(f"Granted {len(names)} item(s) to “{runner.name}”")
    runner.granted = names


def check_runner(person: Person, runner: Runner) -> None:
    for name in runner.granted:
        code, out, err = runner.get(name)
        assert code == 0 and out == person.items[name].secret, err
    for name in set(person.items) - set(runner.granted):
        assert runner.get(name)[0] == 4  # not granted: not there


# -- teams, through the real CLI on the paired laptops ------------------------------------------


def zk_ok(person: Person, *args: str, input: str | None = None) -> dict[str, Any]:
    """``zkvault ARGS --json`` on the person's laptop, which must succeed: its answer."""
    done = person.laptop.zk(*args, "--json", input=input, timeout=150)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def team_add(person: Person, team: str, cred: Credential) -> None:
    zk_ok(
        person,
        "add",
        cred.name,
        "--kind",
        cred.kind,
        "--url",
        cred.url,
        "--username",
        cred.username,
        "--note",
        cred.note,
        "--secret-stdin",
        "--vault",
        team,
        input=cred.secret,
    )
    person.team_items.append(cred)


def team_join(owner: Person, team: str, other: Person, role: str) -> None:
    """Invited, accepted, then added once the owner typed the safety number the other read
    out from their own laptop (the first-use pin of their identity key)."""
    zk_ok(owner, "team", "invite", team, other.email, "--role", role)
    zk_ok(other, "team", "accept", team)
    number = zk_ok(other, "identity")["safety_number"]
    added = zk_ok(owner, "team", "add", team, other.email, "--safety-number", number)
    assert (added["verified"], added["role"]) == ("fingerprint", role), added


def team_reads(person: Person, team: str, creds: list[Credential]) -> None:
    for cred in creds:
        assert zk_ok(person, "get", f"{team}/{cred.name}")["value"] == cred.secret


def team_remove(owner: Person, team: str, other: Person) -> None:
    """A new team key, the vault encrypted again; the other reads nothing of it any more."""
    removed = zk_ok(owner, "team", "remove", team, other.email)
    assert removed["epoch"] == 2 and removed["rotate"], removed
    done = other.laptop.zk("get", f"{team}/{owner.team_items[0].name}", timeout=150)
    assert done.returncode != 0 and owner.team_items[0].secret not in done.stdout
