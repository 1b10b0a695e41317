"""Team sessions against a lying server (format.md §15.6-15.7, docs/teams.md): three people
with real keys and real vaults; the "server" below is a list of entries and a blob that
the test alters the way a compromised server could."""

from __future__ import annotations

import uuid

import pytest

from tests.unit.conftest import FAST, PASSPHRASE
from tests.unit.test_teams_known_prefix import flip_signature
from vault_core import Item, Vault, errors
from vault_core.teams import (
    IdentityKeys,
    TeamMemory,
    TeamVault,
    entry_hash,
    open_team_key,
    peek_team_header,
)
from vault_core.teams.session import TeamSession

TOKEN = "ghp_TEAMSECRETTEAMSECRET0123456789abcd"


class Person:
    def __init__(self, email: str) -> None:
        self.email = email
        self.vault = Vault.create(uuid.uuid4(), PASSPHRASE, kdf=FAST)
        self.keys = self.vault.ensure_identity()
        self.memory: TeamMemory | None = None

    @property
    def id(self) -> str:
        return self.keys.account_id.hex

    def pin(self, other: Person) -> None:
        self.vault.pin_contact(
            other.keys.bundle(),
            other.keys.account_id,
            other.email,
            safety_number=other.keys.safety_number,
        )


class Server:
    """What the server holds: the log and the current team vault."""

    def __init__(self, entry: bytes, blob: bytes) -> None:
        self.log = [entry]
        self.blob = blob

    def open(
        self, person: Person, *, log: list[bytes] | None = None, blob: bytes | None = None
    ) -> TeamSession:
        session = TeamSession.open(
            person.keys,
            self.log if log is None else log,
            self.blob if blob is None else blob,
            person.memory,
        )
        person.memory = session.memory
        return session


@pytest.fixture
def people() -> tuple[Person, Person, Person]:
    return Person("ann@example.com"), Person("bob@example.com"), Person("cy@example.com")


@pytest.fixture
def team(people: tuple[Person, Person, Person]) -> tuple[Server, TeamSession]:
    """Ann creates a team with one GitHub token and adds Bob (writer) and Cy (reader)."""
    ann, bob, cy = people
    session, entry, blob = TeamSession.create(ann.keys, ann.email, "Platform")
    server = Server(entry, blob)
    session.vault.add(Item(name="ci", kind="github", url="https://github.com", secret=TOKEN))
    server.blob = session.save()
    for person, role in ((bob, "writer"), (cy, "reader")):
        ann.pin(person)
        server.log.append(
            session.add_member(
                ann.vault, person.keys.bundle(), person.keys.account_id, person.email, role
            )
        )
    ann.memory = session.memory
    return server, session


def test_members_read_the_items(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, _ = team
    for person in people:
        session = server.open(person)
        assert session.vault.get(session.vault.lookup("ci")).secret == TOKEN
    header = peek_team_header(server.blob)
    assert (header.revision, header.epoch, header.writer.hex) == (2, 1, people[0].id)


def test_a_writer_writes_and_the_others_accept_it(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, _ = team
    bob_session = server.open(people[1])
    bob_session.vault.add(Item(name="deploy", kind="generic", url="", secret="s3cret-value"))
    server.blob = bob_session.save()
    names = [i.name for i in server.open(people[2]).items()]
    assert names == ["ci", "deploy"]


def test_a_reader_cannot_write(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, _ = team
    cy_session = server.open(people[2])
    with pytest.raises(errors.TeamPermissionError):
        cy_session.save()


def test_adding_needs_a_pinned_identity(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    _, session = team
    dee = Person("dee@example.com")
    with pytest.raises(errors.IdentityNotPinnedError):
        session.add_member(
            people[0].vault, dee.keys.bundle(), dee.keys.account_id, dee.email, "reader"
        )
    people[0].pin(dee)
    server_keys = IdentityKeys(dee.keys.account_id, bytes(32))  # the server's key for Dee
    with pytest.raises(errors.IdentityChangedError):
        session.add_member(
            people[0].vault, server_keys.bundle(), dee.keys.account_id, dee.email, "reader"
        )


def test_removal_rotates_and_lists_what_to_rotate(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    ann, bob, cy = people
    old_blob, old_log = server.blob, list(server.log)
    server.open(bob)
    removal = session.remove_member(bob.id)
    server.log.append(removal.entry)
    server.blob = removal.vault
    assert [(e.name, e.rotate_at) for e in removal.exposed] == [
        ("ci", "https://github.com/settings/tokens")
    ]
    assert peek_team_header(server.blob).epoch == 2
    cy_session = server.open(cy)
    assert cy_session.vault.get(cy_session.vault.lookup("ci")).secret == TOKEN
    # Bob is out: not a member of the new log ...
    with pytest.raises(errors.TeamPermissionError):
        server.open(bob)
    # ... and his old key opens nothing new: the new vault under the old log is refused.
    with pytest.raises(errors.TeamLogGapError):
        server.open(bob, log=old_log)
    # The old key Bob kept (his box of epoch 1) does not open the vault of epoch 2.
    old_state = TeamSession.open(bob.keys, old_log, old_blob).state
    old_key = open_team_key(
        old_state.boxes[bob.id],
        bob.keys,
        uuid.UUID(hex=old_state.team_id),
        1,
        old_state.key_check,
    )
    with pytest.raises(errors.HeaderAuthError):
        TeamVault.open(server.blob, states=session.states, team_key=old_key)
    assert ann.id in session.state.members


def test_an_old_vault_after_a_removal_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    old_blob = server.blob
    removal = session.remove_member(people[1].id)
    server.log.append(removal.entry)
    fresh = Person("cy@example.com")  # Cy on a fresh device: no memory
    fresh.keys, fresh.vault = people[2].keys, people[2].vault
    with pytest.raises(errors.StaleEpochError):
        server.open(fresh, blob=old_blob)


def test_a_write_with_the_old_key_after_a_removal_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    bob_session = server.open(people[1])
    removal = session.remove_member(people[1].id)
    server.log.append(removal.entry)
    server.blob = removal.vault
    bob_session.vault.add(Item(name="planted", kind="generic", url="", secret="evil-value"))
    forged = bob_session.save()  # signed by Bob, old key, at the log before his removal
    with pytest.raises(errors.StaleEpochError):
        server.open(people[2], blob=forged)


def test_a_rolled_back_or_forked_log_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    cy = people[2]
    server.open(cy)
    entry, _ = session.change_role(cy.id, "writer")
    server.log.append(entry)
    server.open(cy)
    with pytest.raises(errors.TeamLogRollbackError):
        server.open(cy, log=server.log[:-1])
    # A fork: the same seq, another (genuine, owner-signed) entry.
    other = TeamSession.open(people[0].keys, server.log[:-1], server.blob)
    fork, _ = other.change_role(cy.id, "admin")
    with pytest.raises(errors.TeamLogForkError):
        server.open(cy, log=[*server.log[:-1], fork])


def test_a_rolled_back_vault_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, _ = team
    bob = people[1]
    old_blob = server.blob
    bob_session = server.open(bob)
    bob_session.vault.add(Item(name="deploy", kind="generic", url="", secret="s3cret-value"))
    server.blob = bob_session.save()
    server.open(people[2])
    with pytest.raises(errors.RollbackError):
        server.open(people[2], blob=old_blob)


def test_a_vault_with_a_forged_signature_or_writer_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    server.blob = session.save()  # at the log head, where Bob is a writer too
    blob = bytearray(server.blob)
    sig_at = 98 + 56 * 1 + 32  # header, one manifest entry, MAC
    blob[sig_at] ^= 1
    with pytest.raises(errors.TeamVaultSignatureError):
        server.open(people[2], blob=bytes(blob))
    blob = bytearray(server.blob)
    blob[46:62] = people[2].keys.account_id.bytes  # "written by" the reader
    with pytest.raises(errors.TeamPermissionError):
        server.open(people[2], blob=bytes(blob))
    blob = bytearray(server.blob)
    blob[46:62] = people[1].keys.account_id.bytes  # "written by" the writer, Ann's signature
    with pytest.raises(errors.TeamVaultSignatureError):
        server.open(people[2], blob=bytes(blob))


def test_a_demoted_writers_vault_is_written_again(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    bob_session = server.open(people[1])
    bob_session.vault.add(Item(name="deploy", kind="generic", url="", secret="s3cret-value"))
    server.blob = bob_session.save()
    session = server.open(people[0])
    entry, blob = session.change_role(people[1].id, "reader")
    server.log.append(entry)
    with pytest.raises(errors.TeamPermissionError):  # Bob's vault, Bob now a reader
        server.open(people[2])
    assert blob is not None
    server.blob = blob
    assert [i.name for i in server.open(people[2]).items()] == ["ci", "deploy"]


def test_leave_then_rotate(people: tuple[Person, ...], team: tuple[Server, TeamSession]) -> None:
    server, session = team
    cy_session = server.open(people[2])
    server.log.append(cy_session.leave())
    session = server.open(people[0])
    assert session.state.left_since_rotation == {people[2].id}
    entry, blob = session.rotate()
    server.log.append(entry)
    server.blob = blob
    assert peek_team_header(server.blob).epoch == 2
    assert server.open(people[1]).vault.get(session.vault.lookup("ci")).secret == TOKEN


def test_a_member_whose_key_the_log_does_not_hold_refuses_the_team(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    # The server gave Ann its own key under Dee's account id and Ann accepted it on first
    # use: the log holds the server's key, so Dee's client refuses rather than trust it.
    server, session = team
    dee = Person("dee@example.com")
    substitute = IdentityKeys(dee.keys.account_id, bytes(range(32)))
    people[0].vault.pin_contact(substitute.bundle(), dee.keys.account_id, dee.email)
    server.log.append(
        session.add_member(
            people[0].vault, substitute.bundle(), dee.keys.account_id, dee.email, "reader"
        )
    )
    assert session.state.members[dee.id].verified == "tofu"  # shown to every member
    with pytest.raises(errors.IdentityChangedError):
        server.open(dee)


def test_a_memory_of_another_team_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, _ = team
    server.open(people[2])
    _, entry, blob = TeamSession.create(people[2].keys, people[2].email, "Other")
    with pytest.raises(errors.WrongVaultError):
        TeamSession.open(people[2].keys, [entry], blob, people[2].memory)


def test_an_unsealed_memory_never_spares_a_signature_check(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    """A memory from storage another could write (the web app's localStorage) pins
    nothing: a forged entry under a head written into that memory is still refused. Only a
    sealed memory (the native agent's local state) lets the pinned prefix skip its
    signatures (format.md §15.4, "Memory")."""
    server, _ = team
    ann = people[0]
    forged = [*server.log[:-1], flip_signature(server.log[-1])]
    assert ann.memory is not None
    planted = TeamMemory(ann.memory.team_id, len(forged), entry_hash(forged[-1]).hex())
    with pytest.raises(errors.TeamLogSignatureError):
        TeamSession.open(ann.keys, forged, server.blob, planted)
    # The control: told the memory is sealed, the client trusts the prefix it pins.
    TeamSession.open(ann.keys, forged, server.blob, planted, sealed_memory=True)
