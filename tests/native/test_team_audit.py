"""``zkvault team audit`` through the real CLI and agents on the real server: an admin
reads the trail that creating, adding and removing left; a reader is refused by the server;
an export verifies offline and is written; an event edited in the database behind the
server's back makes the export exit 11 and writes nothing, and so does one whose every
later hash was recomputed: the team vault's saves sealed the heads their writer saw."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy import create_engine, delete, insert, update

from native.state import StateStore
from native.teams import Teams
from tests.hostile.stage import Stage
from tests.native.teams_stage import Member, add_item, leave_all, member, team_stage
from tests.support import auditdb
from tests.vectors.common import Stream
from tests.vectors.teams import _Log
from vault_core.audit_chain import AuditAnchor, verify_export
from vault_core.teams import TeamVault

pytestmark = pytest.mark.slow

USAGE, NOT_FOUND, TAMPERED = 2, 4, 11


@dataclass
class Team:
    stage: Stage
    alice: Member  # owner
    bob: Member  # writer, then removed
    carol: Member  # reader
    team_id: uuid.UUID


@pytest.fixture(scope="module")
def team() -> Iterator[Team]:
    with team_stage() as stage:
        people = [member(stage, name) for name in ("alice", "bob", "carol")]
        alice, bob, carol = people
        try:
            made = alice.ok("team", "create", "audited")
            for someone, role in ((bob, "writer"), (carol, "reader")):
                alice.ok("team", "invite", "audited", someone.email, "--role", role)
                someone.ok("team", "accept", "audited")
            number = bob.ok("identity")["safety_number"]
            alice.ok("team", "add", "audited", bob.email, "--safety-number", number)
            alice.ok("team", "add", "audited", carol.email, "--tofu")
            alice.ok("team", "remove", "audited", bob.email)
            for name in ("deploy", "release"):  # each save seals the head alice saw
                add_item(alice, name, f"{name}-secret", "--vault", "audited")
            yield Team(stage, alice, bob, carol, uuid.UUID(hex=made["team_id"]))
        finally:
            leave_all(people)


def test_an_admin_reads_the_trail(team: Team) -> None:
    events = team.alice.ok("team", "audit", "audited", "--limit", "500")["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs, reverse=True) and seqs[-1] == 1  # newest first, all of it
    actions = [e["action"] for e in reversed(events)]
    assert actions[0] == "team.create"
    assert actions.count("invitation.create") == actions.count("invitation.accept") == 2
    assert actions.count("member.add") == 2 and actions.count("member.remove") == 1
    assert actions.index("member.remove") > max(
        i for i, a in enumerate(actions) if a == "member.add"
    )
    assert {e["outcome"] for e in events} == {"success"}

    limited = team.alice.ok("team", "audit", "audited", "--limit", "2")["events"]
    assert [e["seq"] for e in limited] == seqs[:2]

    done = team.alice.zk("team", "audit", "audited")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"audited: {len(events)} event(s), newest first"
    newest = events[0]
    assert lines[1].split()[:5] == [
        str(newest["seq"]),
        *newest["time"].replace("T", " ")[:19].split(),
        "success",
        newest["action"],
    ]
    assert any(" member.remove " in line for line in lines)
    # A member's account is shown with the email the verified log gives it.
    assert any(
        " member.add  account:" in line and f"({team.carol.email})" in line for line in lines
    )


def test_a_reader_is_refused(team: Team, tmp_path: Path) -> None:
    assert team.carol.fails("team", "audit", "audited") == (USAGE, "team_permission")
    refused = tmp_path / "refused.json"
    assert team.carol.fails("team", "audit", "audited", "--export", str(refused))[0] == USAGE
    assert not refused.exists()
    done = team.carol.zk("team", "audit", "audited")
    assert done.returncode == USAGE and done.stdout == ""
    assert done.stderr.startswith("zkvault: only the team's admins and owners")
    assert len(done.stderr.splitlines()) == 1  # a message, not a traceback
    # A member no longer: the server knows no such team for bob.
    assert team.bob.fails("team", "audit", "audited") == (NOT_FOUND, "not_found")


def test_an_export_verifies_and_an_edit_behind_the_server_is_exit_11(
    team: Team, tmp_path: Path
) -> None:
    alice, chain = team.alice, str(team.team_id)
    good = tmp_path / "team-audit.json"
    done = alice.ok("team", "audit", "audited", "--export", str(good))
    assert done["consistent"] and done["written"] and done["problems"] == []
    document = json.loads(good.read_text())
    assert document["chain"] == chain and document["head_seq"] == done["checked"] > 5
    assert verify_export(document, (), chain=chain).consistent  # the file is what was checked

    # An operator makes a member's addition look failed, in the row only.
    engine = create_engine(f"sqlite:///{team.stage.server.database}")
    try:
        with engine.begin() as conn:
            rows = auditdb.chain_rows(conn, chain)
            added = next(r for r in rows if r["action"] == "member.add")
            conn.execute(
                update(auditdb.EVENTS)
                .where(auditdb.EVENTS.c.id == added["id"])
                .values(outcome="failure", detail="\x1b]0;owned\x07\x1b[2K")
            )
        # Listed, the edited row's control characters reach the terminal only escaped.
        done = alice.zk("team", "audit", "audited", "--limit", "500")
        assert done.returncode == 0 and "\x1b" not in done.stdout and "\x07" not in done.stdout
        assert "(\\x1b]0;owned\\x07\\x1b[2K)" in done.stdout
        bad = tmp_path / "edited.json"
        done = alice.zk("team", "audit", "audited", "--export", str(bad))
        assert done.returncode == TAMPERED, (done.stdout, done.stderr)
        assert f"ALTERED at seq {added['seq']}: " in done.stdout
        assert "nothing written" in done.stderr and not bad.exists()
        done = alice.zk("team", "audit", "audited", "--export", str(bad), "--json")
        reply = json.loads(done.stdout)
        assert done.returncode == TAMPERED and not bad.exists()
        assert (reply["ok"], reply["written"], reply["kinds"]) == (False, False, ["altered"])
    finally:
        with engine.begin() as conn:  # the genuine row back
            conn.execute(
                update(auditdb.EVENTS)
                .where(auditdb.EVENTS.c.id == added["id"])
                .values(outcome=added["outcome"], detail=added["detail"])
            )
        engine.dispose()


def test_a_rewrite_with_every_later_hash_recomputed_is_caught_by_the_anchors(
    team: Team, tmp_path: Path
) -> None:
    alice, chain = team.alice, str(team.team_id)
    good = alice.ok("team", "audit", "audited", "--export", str(tmp_path / "good.json"))
    # The removal's save and both item saves anchored (the first vault, made with the
    # team, had no head to seal); every kept revision opened.
    assert good["consistent"] and good["anchors"] >= 3 and good["unreadable"] == []
    assert good["revisions"] >= 4

    engine = create_engine(f"sqlite:///{team.stage.server.database}")
    try:
        with engine.begin() as conn:
            rows = auditdb.chain_rows(conn, chain)
            added = next(r for r in rows if r["action"] == "member.add")
            auditdb.rewrite(conn, chain, added["seq"])
            rewritten = auditdb.chain_rows(conn, chain)
        # In itself the chain holds together: its hashes were all recomputed.
        assert [r["hash"] for r in rewritten if r["seq"] < added["seq"]] == [
            r["hash"] for r in rows if r["seq"] < added["seq"]
        ]
        assert all(
            a["hash"] != b["hash"]
            for a, b in zip(rows, rewritten, strict=True)
            if a["seq"] >= added["seq"]
        )
        bad = tmp_path / "rewritten.json"
        done = alice.zk("team", "audit", "audited", "--export", str(bad))
        assert done.returncode == TAMPERED, (done.stdout, done.stderr)
        assert "REWRITTEN at seq " in done.stdout and "ALTERED" not in done.stdout
        assert "nothing written" in done.stderr and not bad.exists()
        done = alice.zk("team", "audit", "audited", "--export", str(bad), "--json")
        reply = json.loads(done.stdout)
        assert done.returncode == TAMPERED and not bad.exists()
        assert (reply["ok"], reply["written"], reply["kinds"]) == (False, False, ["rewritten"])
        assert all(p["seq"] >= added["seq"] for p in reply["problems"])
        assert len(reply["problems"]) == reply["anchors"]  # every anchor is past the edit
    finally:
        with engine.begin() as conn:
            auditdb.restore(conn, chain, added)
        engine.dispose()
    # The genuine chain verifies again against the same anchors.
    again = alice.ok("team", "audit", "audited", "--export", str(tmp_path / "again.json"))
    assert again["consistent"] and again["anchors"] == good["anchors"]


@pytest.mark.parametrize(
    "head",
    [
        None,
        "0a" * 32,
        {"seq": 0, "hash": "0a" * 32},  # no event
        {"seq": True, "hash": "0a" * 32},
        {"seq": 3, "hash": "0A" * 32},  # not lowercase
        {"seq": 3, "hash": "0a" * 31},
        {"seq": 2**63, "hash": "0a" * 32},
    ],
)
def test_a_malformed_head_the_server_names_is_never_sealed(head: object) -> None:
    """The agent's own path (``Teams.saw_head``, then ``anchor`` before a save): a server
    that answers a malformed ``audit_head`` leaves the anchor held, so a save never writes
    one that no reader accepts."""
    log = _Log(Stream(b"lying head"))
    vault = TeamVault(uuid.UUID(hex=log.state.team_id), log.key, 1)
    session = SimpleNamespace(state=log.state, vault=vault)
    teams = Teams(None, lambda *a: {}, lambda change: None, cast(StateStore, None))
    teams.saw_head(log.state.team_id, {"audit_head": head})
    teams.anchor(session)
    assert vault.audit_anchor is None
    good = {"seq": "5", "hash": "0b" * 32}
    teams.saw_head(log.state.team_id, {"audit_head": good})
    teams.saw_head(log.state.team_id, {"audit_head": head})  # the good one stays
    teams.anchor(session)
    assert vault.audit_anchor == AuditAnchor(5, "0b" * 32)


def test_a_trail_cut_below_the_newest_anchor_is_caught(team: Team, tmp_path: Path) -> None:
    """The operator deletes the newest events, from the first item save's on, and moves the
    head back: what is left holds together, but the second save sealed the head the first
    one's answer named, which the trail no longer reaches."""
    alice, chain = team.alice, str(team.team_id)
    engine = create_engine(f"sqlite:///{team.stage.server.database}")
    try:
        with engine.begin() as conn:
            rows = auditdb.chain_rows(conn, chain)
            start = next(r["seq"] for r in rows if r["action"] == "team-vault.write")
            cut = [r for r in rows if r["seq"] >= start]
            conn.execute(
                delete(auditdb.EVENTS).where(auditdb.EVENTS.c.id.in_([r["id"] for r in cut]))
            )
            auditdb.relink(conn, chain, start)  # the head: the last event left
        bad = tmp_path / "cut.json"
        done = alice.zk("team", "audit", "audited", "--export", str(bad), "--json")
        reply = json.loads(done.stdout)
        assert done.returncode == TAMPERED and not bad.exists()
        assert (reply["kinds"], reply["checked"]) == (["truncated"], start - 1)
        assert all(p["seq"] >= start for p in reply["problems"])
    finally:
        with engine.begin() as conn:
            conn.execute(insert(auditdb.EVENTS), cut)
            auditdb.relink(conn, chain, 1)
        engine.dispose()
    back = alice.ok("team", "audit", "audited", "--export", str(tmp_path / "back.json"))
    assert back["consistent"] and back["checked"] == len(rows)
