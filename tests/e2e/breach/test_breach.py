"""Breach simulation: realistic use, then everything a thief could take, searched for every
secret; then the attacker with write access to the database, against every client."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from native.dpop import DpopKey
from native.runner import RunnerCredential
from native.vaulterrors import translate
from tests.e2e.breach import artefacts as artefacts_
from tests.e2e.breach import forgeries, keys, scenario
from tests.e2e.breach.conftest import World
from tests.e2e.breach.scenario import Person, Runner
from tests.native.support import REPO
from tests.support import report
from tests.support.leaks import Hit, scan, table
from vault_core import errors
from vault_core.b64url import b64url_decode


def test_realistic_use(world: World) -> None:
    alice, bob = world.people["alice"], world.people["bob"]
    assert len(alice.passphrases) == len(bob.passphrases) == 2
    assert len(alice.runners) == 2 and len(bob.runners) == 1
    assert alice.retired and bob.retired
    assert len(alice.team_items) == 3 and len(bob.team_items) == 1
    report.attach(
        f"Teams in the breach scenario ({world.backend})",
        f"create, invite, accept, add by safety number, 4 team items written and read, a "
        f"member removed (new team key): {world.team_seconds:.1f} s of the CLI on two laptops",
    )


# -- the dump (closing the browsers is what writes their HAR files) -------------------------


BEARER = "bearer credential"


def secrets_of(world: World) -> dict[str, str | bytes]:
    """Every secret used, named "kind | whose what"."""
    found: dict[str, str | bytes] = {}
    identities = {}
    for person in world.people.values():
        found |= person.secret_values()
        _, current = world.attacker.current(person.account_id)
        identities[person.label] = keys.identity(current, person.passphrase, person.account_id)
        found |= keys.identity_secrets(identities[person.label], person.label)
        blobs = world.blobs + list(world.attacker.history(person.account_id).values())
        found |= keys.vault_keys(blobs, person.passphrases, person.label)
        for runner in person.runners.values():
            cred = RunnerCredential.decode(runner.credential)
            found |= keys.runner_keys(cred.seed, f"{person.label}/{runner.name}")
            found[f"{BEARER} | {person.label}/{runner.name}: runner credential"] = cred.credential
            dpop = DpopKey.for_runner(cred.seed).seed  # proves possession: never sent
            found[f"runner key | {person.label}/{runner.name}: DPoP key seed"] = dpop
        for path in person.laptop.key_dir.rglob("*"):
            if path.is_file():
                found[f"machine key | {person.label}: {path.name}"] = path.read_bytes()[:32]
        refresh, dpop_seed = _laptop_tokens(person)
        found[f"{BEARER} | {person.label}: laptop refresh token"] = refresh
        found[f"machine key | {person.label}: DPoP key seed"] = b64url_decode(dpop_seed)
        for cookie in person.app.context.cookies():
            if cookie["httpOnly"]:
                found[f"{BEARER} | {person.label}: browser {cookie['name']}"] = cookie["value"]
    # Alice was a member at every epoch: her boxes open them all.
    entries = world.attacker.team_log(world.team_id)
    found |= keys.team_keys(entries, identities["alice"], world.team)
    assert sum(n.startswith("team key | ") and n.endswith(("1", "2")) for n in found) == 2
    return found


def _laptop_tokens(person: Person) -> tuple[str, str]:
    """The refresh token and the DPoP key seed, read from the laptop's encrypted state with
    its machine key, as the CLI does."""
    code = (
        "from native.state import StateStore; s = StateStore().load(); "
        "print(s.refresh_token); print(s.dpop_seed)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=person.laptop.vars,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    refresh, seed = done.stdout.split()
    return refresh, seed


def _belongs(artefact: str, kind: str) -> bool:
    """Bearer credentials travel to the server and live in the browser's cookie jar by
    design: there they are not hits. Everywhere else (tables, logs, storage, disks) they
    are."""
    return kind == BEARER and artefact.endswith(
        ("all traffic (HAR)", "(proxy capture)", "cookies", "cookies (decrypted)")
    )


def test_everything_a_thief_takes_holds_no_secret(world: World) -> None:
    secrets = secrets_of(world)
    artefacts: dict[str, bytes] = {}
    if world.pg:
        artefacts |= artefacts_.postgres_artefacts(world.pg)
    else:
        artefacts |= artefacts_.sqlite_artefacts(world.server.database)
    artefacts["server log (level debug)"] = world.server.log.read_bytes()
    for person in world.people.values():
        artefacts |= artefacts_.browser_artefacts(person)
    artefacts["all clients' traffic (proxy capture)"] = world.proxy.seen_since()
    for person in world.people.values():
        artefacts |= artefacts_.machine_artefacts(person)

    # Controls: each artefact is the real thing, and the search does find what is there:
    # Alice's current vault blob (public ciphertext) in the tables, in her browser's upload
    # and in her laptop's download.
    alice = world.people["alice"]
    public = {"vault": world.attacker.current(alice.account_id)[1]}
    assert {h.artefact for h in scan(artefacts, public)} >= {
        next(a for a in artefacts if "dump" in a),
        "all clients' traffic (proxy capture)",
        "alice's browser: all traffic (HAR)",
    }
    # The team's vault went through the laptops' CLI traffic and sits in the tables.
    public = {"team vault": world.attacker.team_vault(world.team_id)}
    assert {h.artefact for h in scan(artefacts, public)} >= {
        next(a for a in artefacts if "dump" in a),
        "all clients' traffic (proxy capture)",
    }
    assert b"SELECT" in artefacts["server log (level debug)"]  # debug: SQL is logged
    cookies = json.loads(artefacts["alice's browser: cookies"])
    decrypted = artefacts["alice's browser: saved passwords, cookies (decrypted)"]
    assert any(c["value"].encode() in decrypted for c in cookies if c["httpOnly"])
    assert b"runner-" in artefacts["alice's runner ci-1: disk without credential"]  # the floor

    found = scan(artefacts, secrets)
    # Control: each bearer credential is seen where it belongs, so the values are real.
    carried = {h.secret for h in found if _belongs(h.artefact, h.secret.split(" | ")[0])}
    assert carried == {name for name in secrets if name.startswith(BEARER)}
    hits = [h for h in found if not _belongs(h.artefact, h.secret.split(" | ")[0])]
    kinds = sorted({name.split(" | ")[0] for name in secrets})
    report.attach(
        f"Breach search ({world.backend}): {len(artefacts)} artefacts "
        f"({sum(map(len, artefacts.values())) / 1e6:.0f} MB) x {len(secrets)} secrets of "
        f"{len(kinds)} kinds, each in up to 7 encodings: hits (-: a bearer credential in the "
        "traffic or cookie jar that carries it)",
        table(artefacts, secrets, kind=lambda n: n.split(" | ")[0], hits=hits, belongs=_belongs),
    )
    ops, mem_kib, seconds = keys.one_guess(world.attacker.current(alice.account_id)[1])
    report.attach(
        f"Offline guessing with this dump ({world.backend})",
        f"one guess at the stored parameters (t = {ops}, m = {mem_kib // 1024} MiB) "
        f"costs {seconds:.2f} s of one core and {mem_kib // 1024} MiB here; "
        "docs/threat-model.md turns that into years per passphrase strength",
    )
    report.record(
        "breach",
        f"two accounts, laptops, runners: every artefact ({world.backend})",
        scenarios=1,
        secrets=len(secrets),
        artefacts=len(artefacts),
        hits=len(hits),
    )
    if hits:
        pytest.fail(
            "secrets found:\n"
            + "\n".join(
                sorted({f"{h.artefact}: {h.secret} ({h.form})" for h in hits})
                + _which_files(world, hits, secrets)
            )
        )


def _which_files(world: World, hits: list[Hit], secrets: dict[str, str | bytes]) -> list[str]:
    """For a failure message: the files of the browser profiles that hold a hit."""
    named = {h.secret: secrets[h.secret] for h in hits}
    where = []
    for person in world.people.values():
        found = scan(artefacts_.files(person.profile), named)
        where += sorted({f"{person.label}: {h.artefact}: {h.secret}" for h in found})
    return where


# -- the attacker writes to the database; every client must refuse -----------------------------


def browser_verdict(person: Person) -> str:
    """Reload the page (it fetches the vault again), unlock: the error code shown, or ok."""
    app = person.app
    app.page.reload()
    app.wait_engine()
    app.unlock(person.passphrase)
    app.page.wait_for_selector("#error:not([hidden]), #view-items:not([hidden])", timeout=60_000)
    if app.page.locator("#view-items").is_visible():
        return "ok"
    return str(app.page.locator("#error").get_attribute("data-code"))


def cli_verdict(person: Person) -> tuple[int, str]:
    """Lock, then unlock (which syncs first): the exit status and the error code, or ok."""
    person.laptop.zk("lock")
    done = person.laptop.unlock("--json", passphrase=person.passphrase)
    reply = json.loads(done.stdout)
    assert done.stderr.startswith("zkvault: ") or reply["ok"], done.stderr  # one line
    return done.returncode, "ok" if reply["ok"] else reply["error"]


def test_forged_vaults_are_refused_by_the_browser_and_the_cli(world: World) -> None:
    alice, bob = world.browser(world.people["alice"]), world.people["bob"]
    revision, genuine = world.attacker.current(alice.account_id)
    older = {r: b for r, b in world.attacker.history(alice.account_id).items() if r < revision}
    _, bobs = world.attacker.current(bob.account_id)
    memory = alice.app.page.evaluate(
        f"JSON.parse(localStorage['zkv-vault-memory:{alice.account_id}'] || 'null')"
    )
    # The browser's rollback floor (the head it remembers) is the latest revision.
    assert memory is not None and int(memory["head"]["rev"]) == revision
    vault_id = uuid.UUID(bytes=genuine[22:38])
    cases = forgeries.vault_forgeries(genuine, older, bobs)
    if world.backend != "sqlite":
        # The clients see the same bytes whichever database held them: every case once (on
        # SQLite), here the ones that move whole rows.
        cases = [c for c in cases if c.name.startswith(("the other", "an older", "an item"))]
    wrong: list[str] = []
    detected = {"browser": 0, "CLI": 0}
    for case in cases:
        browser_expects = forgeries.expected_vault_error(
            case.blob, alice.passphrase, alice.account_id, None, revision
        )
        cli_expects = forgeries.expected_vault_error(
            case.blob, alice.passphrase, alice.account_id, vault_id, revision
        )
        assert "ok" not in (browser_expects, cli_expects), case.name
        with world.attacker.serving(alice.account_id, case.revision, case.blob):
            shown = browser_verdict(alice)
            status, code = cli_verdict(alice)
        documented = translate(errors.ALL_ERRORS[cli_expects]()).exit_code
        for client, got, expected in (
            ("browser", shown, browser_expects),
            ("CLI", (status, code), (documented, cli_expects)),
        ):
            if got == expected:
                detected[client] += 1
            else:
                wrong.append(f"{client}, {case.name}: {got}, expected {expected}")
    for client, count in detected.items():
        report.record(
            "tampering",
            f"forged vault in the database -> {client} ({world.backend})",
            tried=len(cases),
            detected=count,
        )
    assert wrong == []

    # The genuine vault is still there and opens everywhere: nothing was lost.
    assert world.attacker.current(alice.account_id) == (revision, genuine)
    assert browser_verdict(alice) == "ok"
    scenario.unlock_laptop(alice)


def runner_verdict(runner: Runner) -> tuple[int, str]:
    done = runner.env.zk("get", runner.granted[0], "--json", extra=runner.vars)
    reply = json.loads(done.stdout)
    return done.returncode, "ok" if reply["ok"] else reply["error"]


def test_forged_grants_are_refused_by_the_runners(world: World) -> None:
    alice, bob = world.people["alice"], world.people["bob"]
    runners = {f"{p.label}/{r.name}": (p, r) for p in (alice, bob) for r in p.runners.values()}
    grants = {name: world.attacker.grant(r.runner_id) for name, (_, r) in runners.items()}
    wrong, tried, replays = [], 0, 0
    for target in ("alice/ci-1", "alice/ci-2"):
        person, runner = runners[target]
        cred = RunnerCredential.decode(runner.credential)
        assert cred.owner_key is not None  # pinned at approval
        floor = int((runner.env.home / f"runner-{runner.runner_id}.floor").read_text())
        others = {name: grant for name, grant in grants.items() if name != target}
        earlier = world.earlier_grants[runner.runner_id]
        for case in forgeries.grant_forgeries(grants[target], earlier, others):
            expected = forgeries.expected_grant_error(
                case.blob, cred.seed, person.account_id, runner.runner_id, cred.owner_key, floor
            )
            assert expected != "ok", case.name
            with world.attacker.granting(runner.runner_id, case.revision, case.blob):
                status, code = runner_verdict(runner)
            tried += 1
            replays += "replayed" in case.name
            documented = translate(errors.ALL_ERRORS[expected]()).exit_code
            if (status, code) != (documented, expected):
                wrong.append(
                    f"{target}, {case.name}: exit {status} {code}, expected exit "
                    f"{documented} {expected}"
                )
        assert runner_verdict(runner) == (0, "ok")  # the genuine grant still works
    report.record(
        "tampering",
        f"forged grant in the database -> runner ({world.backend})",
        tried=tried,
        detected=tried - len(wrong),
    )
    assert wrong == []
    assert replays == 1  # ci-1 was re-granted when its token was rotated
