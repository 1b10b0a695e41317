"""Teams on the server: identities, the signed membership log, the team vault, and every
role rule the server enforces from its own members table (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid

import httpx2
import pytest

from server import audit, teamlog
from server.app import create_app
from server.encoding import b64url_decode, b64url_encode
from tests.support.report import record
from vault_core.audit_chain import verify_export
from vault_core.items import Item
from vault_core.teams import (
    IdentityKeys,
    create_entry,
    leave_entry,
    parse_entry,
    remove_entry,
    replay_states,
)
from vault_core.teams.session import TeamSession

from .conftest import Api, SettingsFactory
from .teamkit import Person, Team, Teams, team_blob

CATEGORY = "team rules"


@pytest.fixture
def teams(api: Api) -> Teams:
    return Teams(api)


def _code(r: httpx2.Response) -> tuple[int, str]:
    return r.status_code, str(r.json().get("code", ""))


def _trio(teams: Teams) -> tuple[Person, Person, Person, Team]:
    owner, writer, reader = teams.person(), teams.person(), teams.person()
    team = teams.create(owner)
    teams.add(team, owner, writer, "writer")
    teams.add(team, owner, reader, "reader")
    return owner, writer, reader, team


def test_identity_is_published_self_signed_and_for_the_caller_only(teams: Teams) -> None:
    alice = teams.person(publish=False)
    bob = teams.person()
    path = "/api/identity"
    # Bob's bundle, or one made for Bob's account by Alice, is not Alice's.
    for bundle in (
        bob.keys.bundle(),
        IdentityKeys.generate(uuid.UUID(bob.user.account_id)).bundle(),
    ):
        r = teams.call("PUT", path, alice.user, {"bundle": b64url_encode(bundle)})
        assert _code(r) == (422, "identity_binding"), r.text
    forged = bytearray(alice.keys.bundle())
    forged[-1] ^= 1  # the self-signature no longer holds
    r = teams.call("PUT", path, alice.user, {"bundle": b64url_encode(bytes(forged))})
    assert _code(r) == (422, "identity_auth"), r.text
    r = teams.call("PUT", path, alice.user, {"bundle": b64url_encode(b"ZKID\x00\x01short")})
    assert _code(r) == (422, "malformed"), r.text
    r = teams.call("PUT", path, alice.user, {"bundle": "not base64!"})
    assert r.status_code == 422
    assert teams.call("GET", f"{path}/{alice.user.account_id}", bob.user).status_code == 404

    first = alice.keys.bundle()
    r = teams.call("PUT", path, alice.user, {"bundle": b64url_encode(first)})
    assert r.status_code == 200 and r.json()["changed_at"] is None
    got = teams.call("GET", f"{path}/{alice.user.account_id}", bob.user).json()
    assert b64url_decode(got["bundle"]) == first
    # The same bundle again changes nothing; a new key is a visible, audited change.
    assert (
        teams.call("PUT", path, alice.user, {"bundle": b64url_encode(first)}).json()["changed_at"]
        is None
    )
    new = IdentityKeys.generate(uuid.UUID(alice.user.account_id)).bundle()
    r = teams.call("PUT", path, alice.user, {"bundle": b64url_encode(new)})
    assert r.status_code == 200 and r.json()["changed_at"]
    events = teams.call("GET", "/api/audit/export", alice.user).json()["events"]
    assert [e["action"] for e in events if e["action"].startswith("identity.")] == [
        "identity.publish",
        "identity.replace",
    ]
    record(CATEGORY, "identity not self-signed or not the caller's", tried=4, refused=4)


def test_lookup_and_team_creation_are_rate_limited(
    api: Api, settings_factory: SettingsFactory
) -> None:
    app = create_app(settings_factory(rate_lookup_per_account=3, rate_team_creates_per_account=1))
    try:
        limited = Teams(Api(app, api.idp))
        alice, bob = limited.person(), limited.person(publish=False)
        r = limited.call("GET", f"/api/accounts/lookup?email={alice.email.upper()}", bob.user)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["account_id"] == alice.user.account_id
        assert b64url_decode(body["identity"]) == alice.keys.bundle()
        r = limited.call("GET", f"/api/accounts/lookup?email={bob.email}", alice.user)
        assert r.json()["identity"] is None
        r = limited.call("GET", "/api/accounts/lookup?email=nobody@example.test", alice.user)
        assert _code(r) == (404, "no_such_account")
        r = limited.call("GET", f"/api/accounts/lookup?email={bob.email}", alice.user)
        assert r.status_code == 200  # Alice's third lookup in the window: the last allowed
        r = limited.call("GET", f"/api/accounts/lookup?email={bob.email}", alice.user)
        assert _code(r) == (429, "rate_limited") and r.headers["retry-after"]
        # Bob's own allowance is untouched by Alice's.
        r = limited.call("GET", f"/api/accounts/lookup?email={alice.email}", bob.user)
        assert r.status_code == 200
        # Teams made per account are bounded too (each keeps its own history).
        limited.create(alice)
        raw, _ = create_entry(alice.keys, alice.email, "second")
        blob = team_blob(parse_entry(raw).team, 1, 1, 1, alice.hex)
        body = {"entry": b64url_encode(raw), "vault": b64url_encode(blob)}
        assert _code(limited.call("POST", "/api/teams", alice.user, body)) == (429, "rate_limited")
    finally:
        app.state.zk.engine.dispose()


def test_create_list_and_read_a_team(teams: Teams) -> None:
    owner, writer, reader, team = _trio(teams)
    stranger = teams.person()
    for who, role in ((owner, "owner"), (writer, "writer"), (reader, "reader")):
        listed = teams.call("GET", "/api/teams", who.user).json()["teams"]
        assert [(t["team_id"], t["role"], t["head_seq"]) for t in listed] == [
            (team.team_id, role, 3)
        ]
        log = teams.call("GET", f"/api/teams/{team.team_id}/log?after=1", who.user).json()
        assert [b64url_decode(e) for e in log["entries"]] == team.entries[1:]
        vault = teams.call("GET", f"/api/teams/{team.team_id}/vault", who.user).json()
        assert (vault["revision"], vault["epoch"], vault["head_seq"]) == (1, 1, 3)
        assert vault["audit_head"]["seq"] >= 1
    assert teams.call("GET", "/api/teams", stranger.user).json() == {
        "teams": [],
        "invitations": [],
    }
    missing = teams.call("GET", f"/api/teams/{uuid.uuid4().hex}/vault", stranger.user)
    for path in ("vault", "log", "invitations", "audit"):
        r = teams.call("GET", f"/api/teams/{team.team_id}/{path}", stranger.user)
        assert (r.status_code, r.json()) == (404, missing.json()), path


def test_a_team_id_is_created_once_and_only_by_its_signer(teams: Teams) -> None:
    owner, other = teams.person(), teams.person()
    team = teams.create(owner)
    blob = b64url_encode(team_blob(team.team_id, 1, 1, 1, owner.hex))
    body = {"entry": b64url_encode(team.entries[0]), "vault": blob}
    assert _code(teams.call("POST", "/api/teams", owner.user, body)) == (409, "team_exists")
    # Someone else posting the owner's signed entry is not its signer.
    assert _code(teams.call("POST", "/api/teams", other.user, body)) == (403, "not_signer")
    unpublished = teams.person(publish=False)
    raw, _ = create_entry(unpublished.keys, unpublished.email, "x")
    team_hex = parse_entry(raw).team
    body = {
        "entry": b64url_encode(raw),
        "vault": b64url_encode(team_blob(team_hex, 1, 1, 1, unpublished.hex)),
    }
    r = teams.call("POST", "/api/teams", unpublished.user, body)
    assert _code(r) == (409, "identity_mismatch")


def test_roles_on_the_team_vault(teams: Teams) -> None:
    owner, writer, reader, team = _trio(teams)
    tried = refused = 0
    r = teams.put_vault(team, reader)
    tried, refused = tried + 1, refused + (_code(r) == (403, "team_role"))
    assert _code(r) == (403, "team_role"), r.text
    r = teams.put_vault(team, writer)
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 2 and r.json()["audit_head"]["seq"] > 1
    r = teams.put_vault(team, writer, base=1)  # stale base revision
    tried, refused = tried + 1, refused + (_code(r) == (409, "revision_conflict"))
    assert r.json()["current_revision"] == 2
    r = teams.put_vault(team, owner, epoch=2)  # an epoch the log has not reached
    tried, refused = tried + 1, refused + (_code(r) == (409, "stale_epoch"))
    # A header naming another writer or team is refused before anything is stored.
    for blob in (
        team_blob(team.team_id, 3, 1, 3, owner.hex),
        team_blob(uuid.uuid4().hex, 3, 1, 3, writer.hex),
        team_blob(team.team_id, 5, 1, 3, writer.hex),
        team_blob(team.team_id, 3, 1, 9, writer.hex),
        b"ZKTV",
    ):
        r = teams.call(
            "PUT",
            f"/api/teams/{team.team_id}/vault",
            writer.user,
            {"base_revision": 2, "blob": b64url_encode(blob)},
        )
        tried, refused = tried + 1, refused + (r.status_code == 422)
        assert r.status_code == 422, r.text
    record(
        CATEGORY, "team vault writes without the role or off the log", tried=tried, refused=refused
    )
    assert tried == refused
    assert (
        teams.call("GET", f"/api/teams/{team.team_id}/vault", reader.user).json()["revision"] == 2
    )


def test_log_appends_follow_the_rules(teams: Teams) -> None:
    owner, writer, reader, team = _trio(teams)
    newcomer = teams.person()
    tried = refused = 0

    def expect(r: httpx2.Response, status: int, code: str) -> None:
        nonlocal tried, refused
        tried += 1
        refused += _code(r) == (status, code)
        assert _code(r) == (status, code), r.text

    # A reader (and a writer) cannot sign admin entries: refused on the server's table.
    expect(
        teams.append(team, reader, teams.role_entry(team, reader, reader, "owner")),
        403,
        "team_role",
    )
    expect(
        teams.append(
            team,
            writer,
            teams.rotate_entry(team, writer),
            team_blob(team.team_id, 2, 2, 4, writer.hex),
        ),
        403,
        "team_role",
    )
    # A member posting an entry someone else signed.
    expect(
        teams.append(team, writer, teams.role_entry(team, owner, writer, "admin")),
        403,
        "not_signer",
    )
    # An add for someone who has not accepted an invitation.
    expect(
        teams.append(team, owner, teams.add_entry(team, owner, newcomer, "reader")),
        409,
        "invitation_required",
    )
    # A remove or rotate without the re-sealed vault.
    raw, _ = remove_entry(owner.keys, team.state, reader.hex)
    expect(teams.append(team, owner, raw), 422, "vault_required")
    expect(teams.append(team, owner, teams.rotate_entry(team, owner)), 422, "vault_required")
    # A stale seq: two admins sign against the same head; the second loses.
    first = teams.role_entry(team, owner, writer, "admin")
    stale = teams.role_entry(team, owner, reader, "writer")
    assert teams.append(team, owner, first).status_code == 200
    r = teams.call(
        "POST", f"/api/teams/{team.team_id}/log", owner.user, {"entry": b64url_encode(stale)}
    )
    expect(r, 409, "log_conflict")
    # A forged signature at the right seq: the log's own check.
    forged = bytearray(teams.role_entry(team, owner, reader, "writer"))
    at = forged.index(b'"sig":"') + 8
    forged[at] = ord("A") if forged[at] != ord("A") else ord("B")
    r = teams.call(
        "POST",
        f"/api/teams/{team.team_id}/log",
        owner.user,
        {"entry": b64url_encode(bytes(forged))},
    )
    tried += 1
    refused += r.status_code == 422
    assert r.status_code == 422, r.text
    record(CATEGORY, "membership-log appends off the rules", tried=tried, refused=refused)
    assert tried == refused
    head = teams.call("GET", f"/api/teams/{team.team_id}/log", owner.user).json()["head_seq"]
    assert head == team.state.seq == 4


def test_an_ex_admin_is_refused(teams: Teams) -> None:
    owner, writer, reader, team = _trio(teams)
    assert (
        teams.append(team, owner, teams.role_entry(team, owner, writer, "admin")).status_code == 200
    )
    assert (
        teams.append(team, owner, teams.role_entry(team, owner, writer, "writer")).status_code
        == 200
    )
    r = teams.append(team, writer, teams.role_entry(team, writer, reader, "admin"))
    assert _code(r) == (403, "team_role"), r.text
    listed = teams.call("GET", "/api/teams", writer.user).json()["teams"]
    assert listed[0]["role"] == "writer"
    record(CATEGORY, "an ex-admin's entry", tried=1, refused=1)


def test_removal_rotates_in_one_transaction_and_locks_the_member_out(teams: Teams) -> None:
    owner, writer, reader, team = _trio(teams)
    old_epoch_writer_blob = team_blob(team.team_id, 2, 1, 3, writer.hex)
    r = teams.remove(team, owner, writer)
    assert r.status_code == 200, r.text
    assert (r.json()["epoch"], r.json()["revision"], r.json()["head_seq"]) == (2, 2, 4)
    # The removed member reaches nothing any more: like a team that does not exist.
    for path in ("vault", "log"):
        r = teams.call("GET", f"/api/teams/{team.team_id}/{path}", writer.user)
        assert _code(r) == (404, "no_such_team")
    r = teams.call(
        "PUT",
        f"/api/teams/{team.team_id}/vault",
        writer.user,
        {"base_revision": 2, "blob": b64url_encode(old_epoch_writer_blob)},
    )
    assert _code(r) == (404, "no_such_team")
    # A remaining member's write with the old key (epoch 1) is refused.
    assert _code(teams.put_vault(team, owner, epoch=1)) == (409, "stale_epoch")
    assert teams.put_vault(team, owner).status_code == 200
    # A vault sealed for another epoch than the one the remove begins is refused whole.
    raw_blob = team_blob(team.team_id, team.revision + 1, 2, 5, owner.hex)
    raw, _ = remove_entry(owner.keys, team.state, reader.hex)
    r = teams.append(team, owner, raw, raw_blob)
    assert _code(r) == (409, "stale_epoch"), r.text
    assert teams.call("GET", f"/api/teams/{team.team_id}/vault", reader.user).status_code == 200
    record(CATEGORY, "removed member and old-key writes", tried=4, refused=4)


def test_leave_needs_no_vault_and_an_admin_rotates_after(teams: Teams) -> None:
    owner, writer, _, team = _trio(teams)
    raw = leave_entry(writer.keys, team.state)
    blob = team_blob(team.team_id, 2, 2, 4, writer.hex)
    assert _code(teams.append(team, writer, raw, blob)) == (422, "vault_not_expected")
    assert teams.append(team, writer, raw).status_code == 200
    assert teams.call("GET", "/api/teams", writer.user).json()["teams"] == []
    rotate = teams.rotate_entry(team, owner)
    blob = team_blob(team.team_id, 2, 2, 5, owner.hex)
    r = teams.append(team, owner, rotate, blob)
    assert r.status_code == 200 and r.json()["epoch"] == 2, r.text


def test_invitations_lifecycle(teams: Teams) -> None:
    owner, writer, _, team = _trio(teams)
    carol, dave, unpublished = teams.person(), teams.person(), teams.person(publish=False)
    base = f"/api/teams/{team.team_id}/invitations"

    def invite(who: Person, email: str, role: str = "reader") -> httpx2.Response:
        return teams.call("POST", base, who.user, {"email": email, "role": role})

    assert _code(invite(writer, carol.email)) == (403, "team_role")
    assert _code(invite(owner, unpublished.email)) == (409, "no_identity")
    assert _code(invite(owner, writer.email)) == (409, "already_member")
    assert _code(invite(owner, "nobody@example.test")) == (404, "no_such_account")
    r = invite(owner, carol.email, "writer")
    assert r.status_code == 201, r.text
    carol_inv = r.json()["invitation_id"]
    assert _code(invite(owner, carol.email)) == (409, "already_invited")
    dave_inv = invite(owner, dave.email).json()["invitation_id"]
    listed = teams.call("GET", base, owner.user).json()
    assert {i["invitation_id"] for i in listed} == {carol_inv, dave_inv}
    assert _code(teams.call("GET", base, writer.user)) == (403, "team_role")
    mine = teams.call("GET", "/api/teams", carol.user).json()["invitations"]
    assert [(i["invitation_id"], i["team_name"], i["role"], i["status"]) for i in mine] == [
        (carol_inv, "Platform", "writer", "pending")
    ]
    # Only the invitee accepts or declines; anyone else is told it does not exist.
    for who in (dave, owner):
        r = teams.call("POST", f"/api/invitations/{carol_inv}/accept", who.user)
        assert _code(r) == (404, "no_such_invitation")
    # Not accepted yet: no add.
    r = teams.append(team, owner, teams.add_entry(team, owner, carol, "writer"))
    assert _code(r) == (409, "invitation_required")
    assert teams.call("POST", f"/api/invitations/{carol_inv}/accept", carol.user).status_code == 200
    r = teams.call("POST", f"/api/invitations/{carol_inv}/accept", carol.user)
    assert _code(r) == (409, "already_accepted")
    assert (
        teams.append(team, owner, teams.add_entry(team, owner, carol, "writer")).status_code == 200
    )
    # The add consumed it: gone from both lists; Carol is a writer.
    assert teams.call("GET", "/api/teams", carol.user).json()["invitations"] == []
    assert [i["invitation_id"] for i in teams.call("GET", base, owner.user).json()] == [dave_inv]
    assert teams.call("GET", "/api/teams", carol.user).json()["teams"][0]["role"] == "writer"
    # Withdrawn: Dave can no longer accept it; declined likewise.
    r = teams.call("DELETE", f"{base}/{dave_inv}", writer.user)
    assert _code(r) == (403, "team_role")
    r = teams.call("DELETE", f"{base}/{dave_inv}", owner.user)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    r = teams.call("POST", f"/api/invitations/{dave_inv}/accept", dave.user)
    assert _code(r) == (404, "no_such_invitation")
    again = invite(owner, dave.email).json()["invitation_id"]
    r = teams.call("POST", f"/api/invitations/{again}/decline", dave.user)
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert teams.call("GET", base, owner.user).json() == []
    actions = [
        e["action"]
        for e in teams.call("GET", f"/api/teams/{team.team_id}/audit/export", owner.user).json()[
            "events"
        ]
    ]
    for action in (
        "invitation.create",
        "invitation.accept",
        "invitation.consume",
        "member.add",
        "invitation.withdraw",
        "invitation.decline",
    ):
        assert action in actions, action


def test_an_add_records_the_key_the_invitee_published(teams: Teams) -> None:
    owner, carol = teams.person(), teams.person()
    team = teams.create(owner)
    teams.invite(team, owner, carol, "reader")
    stale = teams.add_entry(team, owner, carol, "reader")
    carol.keys = IdentityKeys.generate(uuid.UUID(carol.user.account_id))
    r = teams.call(
        "PUT", "/api/identity", carol.user, {"bundle": b64url_encode(carol.keys.bundle())}
    )
    assert r.status_code == 200
    assert _code(teams.append(team, owner, stale)) == (409, "identity_mismatch")
    assert (
        teams.append(team, owner, teams.add_entry(team, owner, carol, "reader")).status_code == 200
    )


def test_team_audit_is_for_admins_and_owners_and_verifies(teams: Teams) -> None:
    owner, writer, reader, team = _trio(teams)
    assert teams.put_vault(team, writer).status_code == 200
    assert (
        teams.append(team, owner, teams.role_entry(team, owner, writer, "admin")).status_code == 200
    )
    stranger = teams.person()
    tried = refused = 0
    for who, expected in ((reader, (403, "team_role")), (stranger, (404, "no_such_team"))):
        for path in ("audit", "audit/export"):
            r = teams.call("GET", f"/api/teams/{team.team_id}/{path}", who.user)
            tried += 1
            refused += _code(r) == expected
    record(CATEGORY, "team audit read by a non-admin", tried=tried, refused=refused)
    assert tried == refused
    export = teams.call("GET", f"/api/teams/{team.team_id}/audit/export", writer.user)
    assert export.status_code == 200
    doc = export.json()
    assert doc["chain"] == str(uuid.UUID(hex=team.team_id))
    report = verify_export(doc, ())
    assert report.consistent, report.summary()
    actions = [e["action"] for e in doc["events"]]
    assert actions[:2] == ["team.create", "team-vault.write"]
    assert {"member.add", "member.role", "team-vault.write"} <= set(actions)
    page = teams.call("GET", f"/api/teams/{team.team_id}/audit?limit=2", owner.user).json()
    assert [e["seq"] for e in page["events"]] == [len(actions), len(actions) - 1]
    # The vault's audit head is the chain's: clients seal it into their next save.
    vault = teams.call("GET", f"/api/teams/{team.team_id}/vault", reader.user).json()
    assert vault["audit_head"] == {"seq": doc["head_seq"], "hash": doc["head_hash"]}
    # The operator's check of every chain (zkvault-server verify-audit) covers teams'.
    with teams.api.app.state.zk.sessions() as db:
        checked, problems = audit.verify(db)
    assert problems == [] and checked >= len(actions)
    # None of it is in the members' own trails.
    mine = teams.call("GET", "/api/audit/export", owner.user).json()["events"]
    assert not [e for e in mine if e["action"].startswith(("team", "member", "invitation"))]


def test_runner_grants_end_when_the_grantor_stops_being_an_admin(api: Api, teams: Teams) -> None:
    owner, admin, reader, team = _trio(teams)
    assert (
        teams.append(team, owner, teams.role_entry(team, owner, admin, "admin")).status_code == 200
    )
    runner = api.pair(admin.user, "runner")
    path = f"/api/teams/{team.team_id}/grants/{runner.client_id}"
    body = {"revision": 1, "blob": b64url_encode(b"sealed team grant")}
    # Only an admin grants, and only to a runner of their own.
    assert _code(teams.call("PUT", path, reader.user, body)) == (403, "team_role")
    assert _code(teams.call("PUT", path, owner.user, body)) == (404, "no_such_runner")
    r = teams.call("PUT", path, admin.user, body)
    assert r.status_code == 200 and r.json()["grantor_id"] == admin.user.account_id, r.text
    got = api.anon.get("/api/runner/team-grants", auth=runner.auth).json()
    assert [(g["team_id"], b64url_decode(g["blob"])) for g in got] == [
        (team.team_id, b"sealed team grant")
    ]
    vault = api.anon.get(f"/api/teams/{team.team_id}/vault", auth=runner.auth)
    assert vault.status_code == 200
    log = api.anon.get(f"/api/teams/{team.team_id}/log", auth=runner.auth)
    assert log.json()["head_seq"] == team.state.seq
    listed = teams.call("GET", f"/api/teams/{team.team_id}/grants", owner.user).json()
    assert [g["runner_id"] for g in listed] == [runner.client_id]
    # Demoted to writer: the grant is gone in the same transaction.
    assert (
        teams.append(team, owner, teams.role_entry(team, owner, admin, "writer")).status_code == 200
    )
    assert api.anon.get("/api/runner/team-grants", auth=runner.auth).json() == []
    r = api.anon.get(f"/api/teams/{team.team_id}/vault", auth=runner.auth)
    assert _code(r) == (404, "no_such_team")
    actions = [
        e["action"]
        for e in teams.call("GET", f"/api/teams/{team.team_id}/audit/export", owner.user).json()[
            "events"
        ]
    ]
    assert "team-grant.revoke" in actions
    record(CATEGORY, "a runner grant outliving its grantor's admin role", tried=1, refused=1)


def test_appends_race_and_replay_the_stored_log(teams: Teams) -> None:
    """Two admins append at the same seq at once: one is stored, the other gets 409 and
    the log stays one chain. Then, with this process's cache of states emptied (as on
    another instance), the next append is checked against the replayed stored log."""
    owner, writer, reader, team = _trio(teams)
    entries = [
        teams.role_entry(team, owner, writer, "admin"),
        teams.role_entry(team, owner, reader, "writer"),
    ]
    results: list[httpx2.Response] = []

    def post(raw: bytes) -> None:
        body = {"entry": b64url_encode(raw)}
        results.append(teams.call("POST", f"/api/teams/{team.team_id}/log", owner.user, body))

    threads = [threading.Thread(target=post, args=(raw,)) for raw in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    log = teams.call("GET", f"/api/teams/{team.team_id}/log?after=3", owner.user).json()
    assert len(log["entries"]) == 1 and log["head_seq"] == 4
    team.take(b64url_decode(log["entries"][0]))
    teamlog.STATES.clear()
    r = teams.append(team, owner, teams.role_entry(team, owner, writer, "reader"))
    assert r.status_code == 200 and r.json()["head_seq"] == 5, r.text
    teamlog.STATES.clear()
    forged = teams.role_entry(team, writer, owner, "reader")  # writer is not an admin
    r = teams.call(
        "POST", f"/api/teams/{team.team_id}/log", writer.user, {"entry": b64url_encode(forged)}
    )
    assert r.status_code in (403, 422), r.text


def test_team_vault_history_is_kept_for_members(teams: Teams) -> None:
    owner, writer, reader, team = _trio(teams)
    for _ in range(2):
        assert teams.put_vault(team, writer).status_code == 200
    assert teams.remove(team, owner, writer).status_code == 200
    base = f"/api/teams/{team.team_id}/vault/history"
    kept = teams.call("GET", base, reader.user).json()
    assert [(k["revision"], k["epoch"]) for k in kept] == [(4, 2), (3, 1), (2, 1), (1, 1)]
    page = teams.call("GET", f"{base}?limit=2&before=4", reader.user).json()
    assert [k["revision"] for k in page] == [3, 2]
    one = teams.call("GET", f"{base}/1", reader.user).json()
    assert b64url_decode(one["blob"])[:4] == b"ZKTV" and one["epoch"] == 1
    assert _code(teams.call("GET", f"{base}/99", reader.user)) == (404, "no_such_revision")
    # The removed member reads no revision at all, old or new.
    for path in (base, f"{base}/1"):
        assert _code(teams.call("GET", path, writer.user)) == (404, "no_such_team")


def test_real_team_vaults_through_the_server(teams: Teams) -> None:
    """Team vaults made by vault_core's TeamSession (sealed, signed, at the log's head)
    travel through the server: a member opens what the server hands out; after a removal
    the remaining member opens the re-encrypted vault and the removed one gets nothing."""
    owner, writer, reader = teams.person(), teams.person(), teams.person()
    session, entry, blob = TeamSession.create(owner.keys, owner.email, "Platform")
    r = teams.call(
        "POST",
        "/api/teams",
        owner.user,
        {"entry": b64url_encode(entry), "vault": b64url_encode(blob)},
    )
    assert r.status_code == 201, r.text
    team = Team(session.state.team_id, session.state, bytes(session._team_key()), 1, [entry])
    teams.add(team, owner, writer, "writer")
    teams.add(team, owner, reader, "reader")
    session.states.extend(replay_states(team.entries)[1:])

    def fetch(who: Person) -> tuple[list[bytes], bytes]:
        log = teams.call("GET", f"/api/teams/{team.team_id}/log", who.user).json()
        vault = teams.call("GET", f"/api/teams/{team.team_id}/vault", who.user).json()
        return [b64url_decode(e) for e in log["entries"]], b64url_decode(vault["blob"])

    # The writer adds an item with their own session and saves it through the server.
    mine = TeamSession.open(writer.keys, *fetch(writer))
    mine.vault.add(Item(name="deploy", kind="github", url="https://github.com", secret="ghp_x"))
    r = teams.call(
        "PUT",
        f"/api/teams/{team.team_id}/vault",
        writer.user,
        {"base_revision": 1, "blob": b64url_encode(mine.save())},
    )
    assert r.status_code == 200, r.text
    theirs = TeamSession.open(reader.keys, *fetch(reader))
    assert [i.name for i in theirs.items()] == ["deploy"]

    # The owner removes the writer: new key, vault re-encrypted, one request.
    session = TeamSession.open(owner.keys, *fetch(owner))
    removal = session.remove_member(writer.hex)
    assert [x.name for x in removal.exposed] == ["deploy"]
    r = teams.call(
        "POST",
        f"/api/teams/{team.team_id}/log",
        owner.user,
        {
            "entry": b64url_encode(removal.entry),
            "vault": b64url_encode(removal.vault),
            "base_revision": 2,
        },
    )
    assert r.status_code == 200 and r.json()["epoch"] == 2, r.text
    after = TeamSession.open(reader.keys, *fetch(reader))
    assert after.state.epoch == 2 and [i.name for i in after.items()] == ["deploy"]
    assert _code(teams.call("GET", f"/api/teams/{team.team_id}/vault", writer.user)) == (
        404,
        "no_such_team",
    )
    # The removed writer's session still holds the old key: its save is refused.
    r = teams.call(
        "PUT",
        f"/api/teams/{team.team_id}/vault",
        writer.user,
        {"base_revision": 3, "blob": b64url_encode(mine.save())},
    )
    assert _code(r) == (404, "no_such_team")


def test_a_demotion_re_signs_the_vault_in_the_same_request(teams: Teams) -> None:
    owner, writer = teams.person(), teams.person()
    session, entry, blob = TeamSession.create(owner.keys, owner.email, "Platform")
    body = {"entry": b64url_encode(entry), "vault": b64url_encode(blob)}
    assert teams.call("POST", "/api/teams", owner.user, body).status_code == 201
    team = Team(session.state.team_id, session.state, bytes(session._team_key()), 1, [entry])
    teams.add(team, owner, writer, "writer")
    path = f"/api/teams/{team.team_id}"
    log = [
        b64url_decode(e) for e in teams.call("GET", f"{path}/log", writer.user).json()["entries"]
    ]
    vault = b64url_decode(teams.call("GET", f"{path}/vault", writer.user).json()["blob"])
    mine = TeamSession.open(writer.keys, log, vault)
    r = teams.call(
        "PUT",
        f"{path}/vault",
        writer.user,
        {"base_revision": 1, "blob": b64url_encode(mine.save())},
    )
    assert r.status_code == 200, r.text
    vault = b64url_decode(teams.call("GET", f"{path}/vault", owner.user).json()["blob"])
    session = TeamSession.open(owner.keys, log, vault)
    entry, resigned = session.change_role(writer.hex, "reader")
    assert resigned is not None  # the writer wrote the current vault
    r = teams.call(
        "POST",
        f"{path}/log",
        owner.user,
        {"entry": b64url_encode(entry), "vault": b64url_encode(resigned), "base_revision": 2},
    )
    assert r.status_code == 200 and r.json()["revision"] == 3, r.text
    log = [
        b64url_decode(e) for e in teams.call("GET", f"{path}/log", writer.user).json()["entries"]
    ]
    vault = b64url_decode(teams.call("GET", f"{path}/vault", writer.user).json()["blob"])
    assert TeamSession.open(writer.keys, log, vault).role == "reader"
