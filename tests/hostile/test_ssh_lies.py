"""SSH keys against a lying server: it cannot add a key to an agent's list, nor have a key
offered to a host it is not meant for, nor make a locked agent sign (docs/cli.md, "SSH
agent"). Real clients through the proxy: the laptop CLI and its agent, a runner's `run`
child with its private agent, and OpenSSH (`ssh-add -L`, `ssh-keygen -Y sign`, `ssh` to
two real sshds that each accept one key and one attempt) to see what is offered."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile import lies
from tests.hostile.stage import Person, Stage, decode_credential, pair_laptop, sign_in
from tests.hostile.test_runner_lies import Runner, enrol, grant
from tests.native.sshd import SSHD, Sshd, start_sshd
from tests.native.support import Env, stop_agent
from tests.support.httpproxy import Answer, Lie, Request
from tests.support.processes import stop
from tests.support.report import record
from vault_core import Item, KdfParams, RunnerKeyPair, Vault, seal_grant, sshkeys
from vault_core import container as layout

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(SSHD), reason="openssh-server missing: run scripts/bootstrap.sh"
    ),
    pytest.mark.slow,
]

USER = "root" if os.getuid() == 0 else os.environ.get("USER", "")


def _ssh_item(name: str, secret: str, host: str) -> Item:
    return Item(name=name, kind="ssh-key", url=host, username=USER, secret=secret)


def public(secret: str) -> str:
    """type and base64, as `ssh-add -L` starts each line."""
    return sshkeys.parse_private(secret).public_line()


@dataclass
class Owner:
    """Alice, her vault as her browser holds it, and the blobs the server has seen.

    Revision 1: "key a" for host-b and "old key" (X) for host-a. Revision 2 (the genuine
    current one): "key a" retargeted to host-a, "old key" removed, "key b" for host-b.
    So the server holds a genuine, authenticated vault in which A was host-b's key and X
    was listed: everything a replay or splice needs."""

    person: Person
    vault: Vault
    a: str
    b: str
    x: str
    x_id: uuid.UUID
    r1: bytes
    laptop: Env
    hosts: dict[str, Sshd]


def _record_of(blob: bytes, item_id: uuid.UUID) -> layout.Record:
    (found,) = [r for r in layout.parse(blob).records if r.item_id == item_id]
    return found


@pytest.fixture(scope="module")
def owner(stage: Stage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Owner]:
    person = sign_in(stage, "sshlies")
    vault = Vault.create(uuid.UUID(person.account_id), person.passphrase, kdf=KdfParams.floor())
    a, b, x = (sshkeys.generate_ed25519() for _ in range(3))
    stage.secrets["sshlies passphrase"] = person.passphrase
    for label, secret in (("a", a), ("b", b), ("x", x)):
        stage.secrets[f"ssh key {label}"] = secret
        stage.secrets[f"ssh key {label} seed"] = sshkeys.parse_private(secret).private[:32]
    key_a = vault.add(_ssh_item("key a", a, "host-b"))
    old = vault.add(_ssh_item("old key", x, "host-a"))
    token = "ghp_" + "s" * 36
    stage.secrets["sshlies token"] = token
    vault.add(Item(name="token", kind="github", url="https://github.com", secret=token))
    r1 = person.save(vault)
    vault.update(key_a, _ssh_item("key a", a, "host-a"))
    vault.remove(old)
    vault.add(_ssh_item("key b", b, "host-b"))
    person.save(vault)
    hosts: dict[str, Sshd] = {}
    laptop = pair_laptop(stage, person)
    try:
        for name, secret in (("host-a", a), ("host-b", b)):
            # Each host accepts one key (its own) and one attempt: a wrong key offered first
            # is a refused login.
            hosts[name] = start_sshd(tmp_path_factory.mktemp(name), extra=("MaxAuthTries 1",))
            hosts[name].authorized_keys.write_text(public(secret) + "\n")
        done = laptop.unlock(passphrase=person.passphrase)
        assert done.returncode == 0, done.stderr
        assert listed(laptop) == {public(a), public(b)}  # the genuine vault's keys
        laptop.zk("lock", check=True)
        yield Owner(person, vault, a, b, x, old, r1, laptop, hosts)
    finally:
        for sshd in hosts.values():
            stop(sshd.proc)
        stop_agent(laptop)


def ssh_socket(env: Env) -> Path:
    return env.runtime / "ssh-agent.sock"


def listed(env: Env, sock: Path | None = None) -> set[str]:
    """The keys `ssh-add -L` lists on the agent socket (none when there is no agent)."""
    done = subprocess.run(
        ["ssh-add", "-L"],
        env={**env.vars, "SSH_AUTH_SOCK": str(sock or ssh_socket(env))},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return set()
    return {" ".join(line.split()[:2]) for line in done.stdout.splitlines()}


def unlock_code(owner: Owner) -> str:
    done = owner.laptop.unlock("--json", passphrase=owner.person.passphrase)
    if done.returncode == 0:
        return "ok"
    return str(json.loads(done.stdout.strip().splitlines()[-1])["error"])


def _splice(
    served: bytes, records: Callable[[tuple[layout.Record, ...]], tuple[layout.Record, ...]]
) -> bytes:
    """``served`` with its records edited: no key is needed, the MACed header is kept."""
    parsed = layout.parse(served)
    return dataclasses.replace(parsed, records=records(parsed.records)).encode()


def _old_a(owner: Owner) -> layout.Record:
    return _record_of(owner.r1, owner.vault.lookup("key a").id)


def _a_for_host_b(owner: Owner, served: bytes, *, relabel_rev: bool) -> bytes:
    """Key A's record from revision 1 (when it was host-b's) in place of the current one;
    with ``relabel_rev``, its item revision edited to the manifest's."""
    old = _old_a(owner)
    current = _record_of(served, old.item_id)
    if relabel_rev:
        old = dataclasses.replace(old, item_rev=current.item_rev)
    return _splice(served, lambda rs: tuple(old if r == current else r for r in rs))


def _x_spliced_in(owner: Owner, served: bytes) -> bytes:
    """The removed key's genuine record (from revision 1) added to the current vault."""
    old = _record_of(owner.r1, owner.x_id)
    return _splice(served, lambda rs: (*rs, old))


def _servers_own(owner: Owner, served: bytes) -> bytes:
    """A vault the server made itself, for Alice's account, holding its own key for host-a."""
    forged = Vault.create(
        uuid.UUID(owner.person.account_id), "the server's own 12345 words", kdf=KdfParams.floor()
    )
    forged.add(_ssh_item("key a", owner.x, "host-a"))
    forged.save()
    return forged.save()


@dataclass(frozen=True)
class KeyLie:
    name: str
    forge: Callable[[Owner, bytes], bytes]
    expect: str


VAULT_KEY_LIES = [
    KeyLie("an older revision: A was host-b's, X listed", lambda o, b: o.r1, "rollback"),
    KeyLie("a removed key's record spliced in", _x_spliced_in, "item_replayed"),
    KeyLie(
        "key A's older record (host-b) in place of its current one",
        lambda o, b: _a_for_host_b(o, b, relabel_rev=False),
        "item_replayed",
    ),
    KeyLie(
        "key A's older record, its item revision edited",
        lambda o, b: _a_for_host_b(o, b, relabel_rev=True),
        "body_auth",
    ),
    KeyLie("the server's own vault with its key", _servers_own, "wrong_vault"),
]


@pytest.mark.parametrize("case", VAULT_KEY_LIES, ids=lambda c: c.name)
def test_unlock_refuses_a_vault_with_a_key_the_owner_never_put_there(
    stage: Stage, owner: Owner, case: KeyLie
) -> None:
    genuine = owner.person.stored()
    lie = lies.vault_blob(case.name, lambda served: case.forge(owner, served))
    with stage.proxy.telling(lie):
        got = unlock_code(owner)
        during = listed(owner.laptop)
    after = unlock_code(owner)  # the lie switched off
    keys_after = listed(owner.laptop)
    owner.laptop.zk("lock")
    unchanged = owner.person.stored()["sha256"] == genuine["sha256"]
    genuine_keys = {public(owner.a), public(owner.b)}
    record(
        "hostile server",
        f"ssh key: {case.name} (CLI)",
        tried=1,
        refused=int(got == case.expect and not during),
        lost=int(after != "ok" or keys_after != genuine_keys or not unchanged),
    )
    assert (got, during) == (case.expect, set())
    assert public(owner.x) not in during | keys_after
    assert (after, keys_after) == ("ok", genuine_keys)
    assert unchanged


def _ssh(env: Env, host: str, config: Path) -> tuple[int, list[str]]:
    """`ssh -v HOST` with zkvault's config: its exit code and the keys it offered."""
    done = subprocess.run(
        ["ssh", "-v", "-F", str(config), host, "true"],
        env={**env.vars, "SSH_AUTH_SOCK": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    offered = re.findall(r"Offering public key: \S+ \S+ (SHA256:\S+)", done.stderr)
    return done.returncode, offered


def _routes(env: Env, owner: Owner) -> Path:
    """~/.ssh/config after `zkvault ssh-agent setup --write`, with where each host is."""
    setup = env.zk("ssh-agent", "setup", "--write")
    assert setup.returncode == 0, setup.stderr
    config = Path(env.vars["HOME"]) / ".ssh" / "config"
    known = config.parent / "known_hosts_sshlies"
    known.write_text("".join(sshd.known_hosts.read_text() for sshd in owner.hosts.values()))
    routes = "".join(
        f"Host {name}\n    HostName 127.0.0.1\n    Port {sshd.port}\n"
        for name, sshd in owner.hosts.items()
    )
    common = (
        f"Host *\n    BatchMode yes\n    UserKnownHostsFile {known}\n"
        "    StrictHostKeyChecking yes\n"
    )
    text = config.read_text()
    if routes not in text:
        config.write_text(text + routes + common)
    return config


def _relabel(body: object) -> tuple[object, int]:
    """Every host- or label-like string field of a JSON answer set to "host-b"."""
    if isinstance(body, list):
        out = [_relabel(x) for x in body]
        return [x for x, _ in out], sum(n for _, n in out)
    if isinstance(body, dict):
        changed: dict[str, object] = {}
        total = 0
        for key, value in body.items():
            if key in ("name", "label", "host", "url", "hostname", "device") and isinstance(
                value, str
            ):
                changed[key], total = "host-b", total + 1
            else:
                changed[key], n = _relabel(value)
                total += n
        return changed, total
    return body, 0


def _decided(laptop: Env, held: int) -> bool:
    """Whether the laptop's agent adopted a revision after ``held`` or refused one."""
    status = json.loads(laptop.zk("status", "--json").stdout)
    refused = any("failed verification" in w for w in status["warnings"])
    return int(status["revision"]) > held or refused


def _wait_for(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_no_key_is_offered_to_a_host_it_is_not_meant_for(stage: Stage, owner: Owner) -> None:
    """A laptop paired and used while the server rewrites every label and host-like field
    it serves (the pairing answer's device name, the account's name, any list) to host-b's;
    once its agent holds the genuine vault (A for host-a, B for host-b), the next revision
    is served with A's older record (when A was host-b's key). ssh to host-b must be
    offered B alone and log in (host-b takes one attempt and B only); host-a, A alone."""
    fp = {
        k: sshkeys.fingerprint(sshkeys.parse_private(k).public_blob)
        for k in (owner.a, owner.b, owner.x)
    }
    relabelled: dict[str, int] = {}  # path -> fields rewritten there

    def rewrite(request: Request, answer: Answer) -> None:
        if 200 <= answer.status < 300 and answer.body[:1] in (b"{", b"["):
            body, n = _relabel(answer.json())
            relabelled[request.path] = relabelled.get(request.path, 0) + n
            answer.set_json(body)

    labels = [
        Lie(f"every label and host relabelled ({method})", method, r"/api/.*", rewrite)
        for method in ("GET", "POST")
    ]
    forged = lies.vault_blob(
        "the next revision with A's host-b record",
        lambda served: _a_for_host_b(owner, served, relabel_rev=False),
    )
    laptop: Env | None = None
    try:
        with stage.proxy.telling(*labels):
            laptop = pair_laptop(stage, owner.person)
            done = laptop.unlock(passphrase=owner.person.passphrase)
            assert done.returncode == 0, done.stderr
            genuine = owner.person.stored()
            with stage.proxy.telling(forged):
                # A genuine newer revision for the agent to fetch (after the laptops' saves).
                owner.vault.reload(lies.b64d(genuine["blob"]))
                owner.person.save(owner.vault)
                # Observe once the agent has decided: adopted the revision, or refused it.
                decided = _wait_for(lambda: _decided(laptop, genuine["revision"]))
                warned = decided and "failed verification" in laptop.zk("status").stdout
            keys = listed(laptop)
            config = _routes(laptop, owner)
            to_b = _ssh(laptop, "host-b", config)
            to_a = _ssh(laptop, "host-a", config)
    finally:
        if laptop is not None:
            stop_agent(laptop)
    stored = owner.person.stored()
    record(
        "hostile server",
        "ssh key: labels relabelled to host-b, A's host-b record served (CLI + ssh)",
        tried=1,
        refused=int(warned and to_b == (0, [fp[owner.b]]) and to_a == (0, [fp[owner.a]])),
        lost=int(
            keys != {public(owner.a), public(owner.b)} or stored["revision"] <= genuine["revision"]
        ),
    )
    # The device name in the pairing answer and the account's name were served as host-b.
    assert relabelled.get("/api/pairings/poll") and relabelled.get("/api/me"), relabelled
    assert to_b == (0, [fp[owner.b]]), to_b  # B alone, first, and it logged in
    assert to_a == (0, [fp[owner.a]]), to_a
    assert keys == {public(owner.a), public(owner.b)}
    assert warned, "the agent did not refuse the forged revision"


def test_a_locked_agent_signs_nothing_whatever_is_served(stage: Stage, owner: Owner) -> None:
    """Locked, then a server that serves its own vault (its key for host-a in it): unlock
    is refused, so nothing signs, no key is listed and ssh logs in nowhere."""
    assert unlock_code(owner) == "ok"
    owner.laptop.zk("lock", check=True)
    message = owner.laptop.root / "message"
    message.write_text("sign me\n")
    sock = ssh_socket(owner.laptop)
    served = lies.vault_blob("the server's own vault", lambda blob: _servers_own(owner, blob))
    with stage.proxy.telling(served):
        refused_unlock = unlock_code(owner)
        attempts = {
            name: (_sign(owner, secret, message, sock), _login(owner, host, secret, sock))
            for name, secret, host in (
                ("a", owner.a, "host-a"),
                ("b", owner.b, "host-b"),
                ("x", owner.x, "host-a"),
            )
        }
        keys = listed(owner.laptop)
    worked = [name for name, (signed, login) in attempts.items() if signed or login]
    after = unlock_code(owner)  # the lie switched off: the genuine vault signs again
    signs_after = _sign(owner, owner.a, message, sock)
    owner.laptop.zk("lock")
    record(
        "hostile server",
        "ssh key: a locked agent, the server's own vault served (CLI + ssh)",
        tried=1,
        refused=int(refused_unlock == "wrong_vault" and not worked and not keys),
        lost=int(after != "ok" or not signs_after),
    )
    assert refused_unlock == "wrong_vault"
    assert (worked, keys) == ([], set())
    assert after == "ok" and signs_after


def _sign(owner: Owner, secret: str, message: Path, sock: Path) -> bool:
    """`ssh-keygen -Y sign` through the agent socket: whether a signature was made."""
    stub = owner.laptop.root / "signing.pub"
    stub.write_text(public(secret) + "\n")
    sig = Path(str(message) + ".sig")
    sig.unlink(missing_ok=True)
    done = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", "file", "-f", str(stub), str(message)],
        env={**owner.laptop.vars, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0 and sig.exists()


def _login(owner: Owner, host: str, secret: str, sock: Path) -> bool:
    """ssh to ``host`` offering ``secret``'s key from the agent socket: whether it logged in."""
    stub = owner.laptop.root / "login.pub"
    stub.write_text(public(secret) + "\n")
    sshd = owner.hosts[host]
    done = subprocess.run(
        [
            *("ssh", *sshd.client_options(with_key=False)),
            *("-o", f"IdentityAgent={sock}", "-i", str(stub), "-o", "IdentitiesOnly=yes"),
            *(sshd.destination, "true"),
        ],
        env={**owner.laptop.vars, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


@dataclass
class Fleet:
    runner: Runner
    planted: Vault  # the server's own, for Alice's account, with its key X


@pytest.fixture(scope="module")
def fleet(stage: Stage, owner: Owner) -> Iterator[Fleet]:
    runner = enrol(stage, owner.person, owner.vault, "ci-ssh")
    try:
        grant(owner.person, owner.vault, runner, ["key a", "token"])
        grant(owner.person, owner.vault, runner, ["key b"])  # revision 2: B alone
        planted = Vault.create(
            uuid.UUID(owner.person.account_id),
            "the server's own 12345 words",
            kdf=KdfParams.floor(),
        )
        planted.add(_ssh_item("key x", owner.x, "host-b"))
        assert run_child(runner)[1] == {public(owner.b)}  # revision 2 opened: the floor
        yield Fleet(runner, planted)
    finally:
        shutil.rmtree(runner.env.root, ignore_errors=True)


def run_child(runner: Runner) -> tuple[int, set[str] | None, str]:
    """`zkvault run -- sh -c 'ssh-add -L'` with the runner's credential: its exit code, the
    keys its child's agent listed (None: the child never ran) and stderr."""
    done = runner.env.zk(
        *("run", "--", "sh", "-c", 'echo "child ran"; ssh-add -L'),
        extra={"ZKVAULT_RUNNER_CREDENTIAL": runner.credential, "SSH_AUTH_SOCK": "/nonexistent"},
        timeout=60,
    )
    lines = done.stdout.splitlines()
    if not lines or lines[0] != "child ran":
        return done.returncode, None, done.stderr
    return (
        done.returncode,
        {" ".join(x.split()[:2]) for x in lines[1:] if x.startswith("ssh-")},
        done.stderr,
    )


@dataclass(frozen=True)
class GrantLie:
    name: str
    forge: Callable[[Fleet], bytes]
    expect: str


def _own_grant(fleet: Fleet) -> bytes:
    """The server's own grant: its key X (and a copy of nothing else), sealed to the
    runner's public key at a higher revision, signed with the server's own owner key."""
    seed = lies.b64d(decode_credential(fleet.runner.credential)["k"])
    runner_key = RunnerKeyPair(seed).public_key
    ids = [i.id for i in fleet.planted.items()]
    return seal_grant(fleet.planted, fleet.runner.runner_id, runner_key, ids, 3)


GRANT_LIES = [
    GrantLie("a replayed older grant with key A", lambda f: f.runner.blobs[0], "rollback"),
    GrantLie("a grant with the server's own key X", _own_grant, "grant_auth"),
]


@pytest.mark.parametrize("case", GRANT_LIES, ids=lambda c: c.name)
def test_runner_child_agent_lists_only_granted_keys(
    stage: Stage, owner: Owner, fleet: Fleet, case: GrantLie
) -> None:
    lie = lies.grant_blob(case.name, lambda served: case.forge(fleet))
    with stage.proxy.telling(lie):
        code, during, err = run_child(fleet.runner)
        got = fleet.runner.get("key b")[0]
    after_code, after, _ = run_child(fleet.runner)  # the lie switched off
    record(
        "hostile server",
        f"ssh key: {case.name} (runner run)",
        tried=1,
        refused=int(code != 0 and during is None and got == case.expect),
        lost=int(after_code != 0 or after != {public(owner.b)}),
    )
    assert (code, during, got) == (5, None, case.expect), err
    assert (after_code, after) == (0, {public(owner.b)})
