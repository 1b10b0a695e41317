"""The laptop CLI against a server that shows it a branch of the vault it did not follow
(a fork: format 2's lineage, docs/cli.md "Forks"). The revisions are written as the web
app writes them (vault_core, each browser its own device), the true ones through the real
server API; the other branch is what a compromised server kept from a browser it showed
an older revision, and the proxy serves it to the laptop. The running agent must stop
serving at once with the documented code, keep its local copy and memory, log one line,
and `zkvault status` must say so until an unlock finds the vault descending again; an
unlock shown the branch must refuse it too. A machine new to the vault is shown the last
save's time and device, which a withheld newer revision cannot fake."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

import vault_core.vault as vault_module
from native.state import StateStore
from tests.hostile import lies
from tests.hostile.stage import Person, Stage, fresh_items, pair_laptop, sign_in
from tests.native.support import Env, stop_agent
from tests.support.httpproxy import Lie
from tests.support.report import record
from vault_core import Item, KdfParams, Vault
from vault_core.lineage import Device

pytestmark = pytest.mark.slow

FAST = {"ZKVAULT_CHECK_INTERVAL": "1"}  # the agent's long poll: a second at most
CREDENTIAL = "protocol=https\nhost=github.com\n\n"


@dataclass
class Browser:
    """One browser of the person's: the web app's vault, its own device and clock."""

    person: Person
    vault: Vault
    blobs: dict[int, bytes]  # every revision it saved, by number

    def save(self, stage: Stage, *, upload: bool = True) -> bytes:
        """One more item, saved; uploaded as the web app does (``base_revision``), or
        kept back (what a compromised server received from a browser it forked)."""
        name, secret = f"note {secrets.token_hex(3)}", "s-" + secrets.token_hex(12)
        item = Item(name=name, kind="generic", url="", secret=secret)
        stage.secrets[f"{self.person.sub} {item.name}"] = item.secret
        self.vault.add(item)
        base = self.vault.revision
        blob = self.vault.save()
        if upload:
            body = {"base_revision": base, "blob": lies.b64e(blob)}
            r = self.person.call("PUT", "/api/vault", json=body)
            assert r.status_code == 200, r.text
        self.vault.accepted()
        self.blobs[self.vault.revision] = blob
        return blob


def device(name: str) -> Device:
    return Device(secrets.token_hex(16), name)


def first_browser(stage: Stage, label: str, *, at: str = "2026-03-01T09:00:00Z") -> Browser:
    """A person with a new vault (three items) made in their first browser, not saved."""
    person = sign_in(stage, label)
    stage.secrets[f"{label} passphrase"] = person.passphrase
    person.items = fresh_items(label)
    for item in person.items:
        stage.secrets[f"{label} token {item.name}"] = item.secret
    vault = Vault.create(
        uuid.UUID(person.account_id),
        person.passphrase,
        kdf=KdfParams.floor(),
        device=device(f"Firefox on {label}'s desk"),
    )
    vault.clock = lambda: at
    for item in person.items:
        vault.add(item)
    # With its identity (docs/teams.md): a laptop's first unlock then saves nothing of its
    # own, and the revisions counted here are the browsers' alone.
    vault.ensure_identity()
    return Browser(person, vault, {})


def other_browser(browser: Browser, revision: int, name: str) -> Browser:
    """A second browser of the same person, which the server showed ``revision`` only."""
    person = browser.person
    vault = Vault.open(
        browser.blobs[revision],
        person.passphrase,
        account_id=uuid.UUID(person.account_id),
        device=device(name),
    )
    vault.confirm_current()  # its person looked at the last save and said yes
    return Browser(person, vault, {revision: browser.blobs[revision]})


@contextmanager
def format_1() -> Iterator[None]:
    """Saves as a client from before format 2 writes them (vault_core writes the newest
    format only): the header, the item records' associated data, no lineage read back."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vault_module, "VERSION", 1)
        yield


def serve(name: str, blob: bytes) -> Lie:
    """GET /api/vault answers with ``blob`` instead of the server's current vault."""
    return lies.vault_blob(name, lambda served: blob)


def head_says(name: str, revision: int) -> Lie:
    """The agent's long poll (GET /api/vault/head) names ``revision``."""
    return lies.json_body(
        name, "GET", "/api/vault/head", lambda body: {**body, "revision": revision}
    )


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def error_of(done: subprocess.CompletedProcess[str]) -> str:
    """The error code of a `--json` command that failed, or "ok"."""
    if done.returncode == 0:
        return "ok"
    return str(json.loads(done.stdout.strip().splitlines()[-1])["error"])


def unlock(env: Env, person: Person, *flags: str) -> str:
    return error_of(env.unlock("--json", *flags, passphrase=person.passphrase, extra=FAST))


@dataclass
class Kept:
    """What the laptop keeps on disk: the vault copy and its memory of the vault."""

    blob: bytes | None
    memory: dict[str, object] | None
    fork: dict[str, object] | None


def kept(env: Env, monkeypatch: pytest.MonkeyPatch) -> Kept:
    for key in ("ZKVAULT_HOME", "ZKVAULT_KEY_DIR", "ZKVAULT_KEYRING"):
        monkeypatch.setenv(key, env.vars[key])
    state = StateStore().load()
    return Kept(state.vault_blob, state.vault_memory, state.fork)


@pytest.fixture
def laptop() -> Iterator[list[Env]]:
    envs: list[Env] = []
    yield envs
    for env in envs:
        stop_agent(env)


def paired(stage: Stage, person: Person, envs: list[Env]) -> Env:
    env = pair_laptop(stage, person)
    envs.append(env)
    return env


def serving(env: Env, person: Person) -> str:
    """What `get` answers for the person's first item: "ok" or the error code."""
    done = env.zk("get", person.items[0].name, "--json")
    if done.returncode == 0:
        assert json.loads(done.stdout)["value"] == person.items[0].secret
    return error_of(done)


def check_stopped(env: Env, person: Person, code: str, before: Kept, now: Kept) -> list[str]:
    """Everything the agent must do once it met the branch; the failures, as text."""
    failures = []
    got = env.zk("get", person.items[0].name)
    if got.returncode != 5 or person.items[0].secret in got.stdout:
        failures.append(f"get: exit {got.returncode}")
    if "compare the vault on" not in got.stderr or "`zkvault unlock`" not in got.stderr:
        failures.append(f"get did not give the next step: {got.stderr!r}")
    ran = env.zk("run", "--env", f"T={person.items[0].name}", "--", "true")
    if ran.returncode != 5:
        failures.append(f"run: exit {ran.returncode}")
    helper = env.zk("git-credential", "get", input=CREDENTIAL)
    if helper.returncode != 5 or "password=" in helper.stdout:
        failures.append(f"git-credential: exit {helper.returncode}")
    status = env.zk("status")
    if status.returncode != 5 or "fork detected at " not in status.stdout:
        failures.append(f"status: {status.returncode} {status.stdout!r}")
    shown = json.loads(env.zk("status", "--json").stdout)
    if (shown.get("fork") or {}).get("code") != code:
        failures.append(f"status --json: {shown.get('fork')}")
    if (now.blob, now.memory) != (before.blob, before.memory):
        failures.append("the local copy or memory changed")
    if (now.fork or {}).get("code") != code:
        failures.append(f"the state's fork record: {now.fork}")
    log = (env.home / "agent.log").read_text().splitlines()
    if len(log) != 1 or f"({code})" not in log[0]:
        failures.append(f"agent.log: {log}")
    if any(s in "\n".join(log) for s in [person.passphrase, *(i.secret for i in person.items)]):
        failures.append("a secret in agent.log")
    return failures


def after_the_lie(stage: Stage, env: Env, person: Person, lie: Lie, code: str) -> None:
    """An unlock while the server keeps lying stays refused (it checks against the memory
    again), status still says so when locked; with the lie off the true vault opens and
    the fork notice is gone."""
    with stage.proxy.telling(lie):
        assert unlock(env, person) == code, "an unlock shown the branch again was accepted"
    locked = env.zk("status")
    assert locked.returncode == 3 and "fork detected at " in locked.stdout, locked.stdout
    assert unlock(env, person) == "ok"
    status = env.zk("status")
    assert status.returncode == 0 and "fork detected" not in status.stdout, status.stdout
    assert serving(env, person) == "ok"


def test_agent_shown_another_browsers_branch_stops_serving(
    stage: Stage, laptop: list[Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers' views meet: the laptop followed the desk (1, 2); the server showed the
    tablet revision 1 only, took its 2' and 3', and shows the laptop 3' once the desk has
    saved 3: 3' is not based on the revision 2 the laptop holds."""
    desk = first_browser(stage, "fork")
    desk.save(stage)
    desk.save(stage)
    tablet = other_browser(desk, 1, "Chromium on fork's tablet")
    tablet.save(stage, upload=False)
    branch = tablet.save(stage, upload=False)
    person = desk.person
    env = paired(stage, person, laptop)
    assert unlock(env, person) == "ok"
    before = kept(env, monkeypatch)
    with stage.proxy.telling(serve("the tablet's branch", branch)):
        desk.save(stage)  # revision 3 on the server; the laptop is shown 3'
        wait_for(lambda: serving(env, person) != "ok", "the agent kept serving the branch")
        got = serving(env, person)
        failures = check_stopped(env, person, "fork", before, kept(env, monkeypatch))
    record(
        "hostile server",
        "another device's branch shown to the agent (CLI)",
        tried=1,
        refused=int(got == "fork" and not failures),
    )
    assert got == "fork" and not failures, failures
    after_the_lie(stage, env, person, serve("the tablet's branch again", branch), "fork")
    assert json.loads(env.zk("status", "--json").stdout)["revision"] == 3


def test_agent_shown_its_revision_with_other_content_stops_serving(
    stage: Stage, laptop: list[Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same revision number with other content: the laptop holds the desk's 2; the
    server announces a newer revision and sends the tablet's 2'."""
    desk = first_browser(stage, "same")
    desk.save(stage)
    desk.save(stage)
    tablet = other_browser(desk, 1, "Chromium on same's tablet")
    other_two = tablet.save(stage, upload=False)
    person = desk.person
    env = paired(stage, person, laptop)
    assert unlock(env, person) == "ok"
    before = kept(env, monkeypatch)
    told = (head_says("a newer revision announced", 3), serve("another revision 2", other_two))
    with stage.proxy.telling(*told):
        wait_for(lambda: serving(env, person) != "ok", "the agent kept serving the other 2")
        got = serving(env, person)
        failures = check_stopped(env, person, "fork", before, kept(env, monkeypatch))
    record(
        "hostile server",
        "the same revision with other content (CLI)",
        tried=1,
        refused=int(got == "fork" and not failures),
    )
    assert got == "fork" and not failures, failures
    # The same 2' at unlock: refused as well (Vault.open against the memory).
    after_the_lie(stage, env, person, serve("another revision 2 at unlock", other_two), "fork")


def test_withheld_revision_then_one_that_skips_the_laptops_view(
    stage: Stage, laptop: list[Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server withholds the desk's 3 from the laptop (which holds 2), then shows it the
    tablet's 4', from a branch that left revision 2 out. A newer revision need not be the
    next one; it must still contain every write the laptop saw. (The desk's own 4, which
    skips the withheld 3 but contains 2, opens afterwards.)"""
    desk = first_browser(stage, "skip")
    desk.save(stage)
    desk.save(stage)
    tablet = other_browser(desk, 1, "Chromium on skip's tablet")
    for _ in range(3):
        skipping = tablet.save(stage, upload=False)  # 2', 3', 4'
    person = desk.person
    env = paired(stage, person, laptop)
    assert unlock(env, person) == "ok"
    before = kept(env, monkeypatch)
    withheld = head_says("revision 3 withheld", 2)
    with stage.proxy.telling(withheld):
        desk.save(stage)
        asked = withheld.fired
        wait_for(lambda: withheld.fired >= asked + 2, "the agent did not ask while 3 was withheld")
    assert json.loads(env.zk("status", "--json").stdout)["revision"] == 2
    with stage.proxy.telling(serve("a branch without revision 2", skipping)):
        desk.save(stage)  # 4 on the server; the laptop is shown 4'
        wait_for(lambda: serving(env, person) != "ok", "the agent adopted the skipping 4'")
        got = serving(env, person)
        failures = check_stopped(env, person, "fork", before, kept(env, monkeypatch))
    record(
        "hostile server",
        "a withheld revision, then a branch skipping the laptop's view (CLI)",
        tried=1,
        refused=int(got == "fork" and not failures),
    )
    assert got == "fork" and not failures, failures
    after_the_lie(stage, env, person, serve("a branch without 2 again", skipping), "fork")
    assert json.loads(env.zk("status", "--json").stdout)["revision"] == 4


def test_a_rolled_back_format_is_a_downgrade(
    stage: Stage, laptop: list[Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vault was format 1 at revision 1 and the desk upgraded it at 2, which the laptop
    opened. The server shows the running agent a format-1 revision 3 (from a browser
    still on format 1 that it showed revision 1 only), and a later unlock the genuine
    format-1 revision 1: both are `downgrade`, whatever their revision."""
    desk = first_browser(stage, "down")
    with format_1():
        desk.save(stage)
    desk.save(stage)  # format 2 from here on
    old_app = other_browser(desk, 1, "an old browser")
    with format_1():
        old_app.save(stage, upload=False)
        older_format = old_app.save(stage, upload=False)  # revision 3, format 1
    assert older_format[4:6] == b"\x00\x01" and desk.blobs[2][4:6] == b"\x00\x02"
    person = desk.person
    env = paired(stage, person, laptop)
    assert unlock(env, person) == "ok"
    before = kept(env, monkeypatch)
    with stage.proxy.telling(serve("a format-1 revision 3", older_format)):
        desk.save(stage)
        wait_for(lambda: serving(env, person) != "ok", "the agent adopted format 1")
        got = serving(env, person)
        failures = check_stopped(env, person, "downgrade", before, kept(env, monkeypatch))
    with stage.proxy.telling(serve("the format-1 revision 1", desk.blobs[1])):
        at_unlock = unlock(env, person)
    record(
        "hostile server",
        "a rolled-back format version (CLI)",
        tried=2,
        refused=int(got == "downgrade" and not failures) + int(at_unlock == "downgrade"),
    )
    assert got == "downgrade" and not failures, failures
    assert at_unlock == "downgrade", "the format-1 revision 1 was not refused as a downgrade"
    after_the_lie(stage, env, person, serve("format 1 again", desk.blobs[1]), "downgrade")


def test_a_new_machine_shown_an_old_revision_sees_its_time_and_device(
    stage: Stage, laptop: list[Env]
) -> None:
    """A laptop paired today, to which the server shows revision 1 (withholding 2): unlock
    prints when and on which device revision 1 was saved, and status says this machine
    has not confirmed it. A person who saved from their phone this morning can tell."""
    desk = first_browser(stage, "fresh", at="2026-03-01T09:00:00Z")
    desk.save(stage)
    phone = other_browser(desk, 1, "Safari on fresh's phone")
    phone.vault.clock = lambda: "2026-03-05T07:30:00Z"
    phone.save(stage)
    person = desk.person
    env = paired(stage, person, laptop)
    with stage.proxy.telling(serve("revision 1 for a new machine", desk.blobs[1])):
        done = env.unlock(passphrase=person.passphrase, extra=FAST)
        status = env.zk("status")
        as_json = json.loads(env.zk("status", "--json").stdout)
        env.zk("lock", check=True)
        confirmed = env.unlock("--confirm", passphrase=person.passphrase, extra=FAST)
        after = json.loads(env.zk("status", "--json").stdout)
    notice = (
        "This machine has not seen this vault before: last saved 2026-03-01 09:00:00 UTC"
        " by Firefox on fresh's desk."
    )
    shown = notice in done.stderr and "last saved 2026-03-01 09:00:00 UTC" in status.stdout
    record(
        "hostile server",
        "an old revision shown to a new machine (CLI)",
        tried=1,
        detected=int(shown and as_json.get("confirmed") is False),
    )
    assert done.returncode == 0, done.stderr
    assert notice in done.stderr, done.stderr
    assert "NOT confirmed on this machine" in status.stdout, status.stdout
    assert as_json["confirmed"] is False
    assert as_json["last_saved"] == {"at": "2026-03-01T09:00:00Z", "by": "Firefox on fresh's desk"}
    assert confirmed.returncode == 0, confirmed.stderr
    assert "Confirmed as your current vault." in confirmed.stderr
    assert after["confirmed"] is True and after["revision"] == 1
    env.zk("lock", check=True)
    assert unlock(env, person) == "ok"  # the lie off: the phone's revision 2, no question
    status = json.loads(env.zk("status", "--json").stdout)
    assert status["last_saved"] == {"at": "2026-03-05T07:30:00Z", "by": "Safari on fresh's phone"}
    assert status["revision"] == 2 and status["confirmed"] is True
