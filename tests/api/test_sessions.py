"""Browser sessions: the owner lists them and signs out every other one."""

from __future__ import annotations

from .conftest import Api


def test_sessions_list_marks_this_one_and_sign_out_others_ends_them(api: Api) -> None:
    first = api.sign_in("ada-sessions")
    second = api.sign_in("ada-sessions")
    stranger = api.sign_in("someone-else")
    assert first.account_id == second.account_id
    r = api.anon.get("/api/sessions", auth=second.auth)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert len(listed) == 2  # another account's session is not among them
    assert [s["current"] for s in listed] == [False, True]
    assert set(listed[0]) == {"id", "created_at", "last_seen_at", "current"}

    r = api.anon.post("/api/sessions/sign-out-others", auth=second.auth)
    assert (r.status_code, r.json()) == (200, {"signed_out": 1})
    # The other session's access token stops working now, and its refresh cookie too.
    assert api.anon.get("/api/me", auth=first.auth).status_code == 401
    r = first.browser.post("/auth/refresh", headers=first.csrf(), auth=first.proof)
    assert r.status_code == 401
    # This one and another account's go on.
    assert api.anon.get("/api/me", auth=second.auth).status_code == 200
    assert api.anon.get("/api/me", auth=stranger.auth).status_code == 200
    assert [s["current"] for s in api.anon.get("/api/sessions", auth=second.auth).json()] == [True]
    r = api.anon.post("/api/sessions/sign-out-others", auth=second.auth)
    assert r.json() == {"signed_out": 0}
    tags = [e["tag"] for e in api.anon.get("/api/audit/export", auth=second.auth).json()["events"]]
    assert tags.count("account:session:revoke") == 1


def test_sessions_are_for_browsers_only(api: Api) -> None:
    user = api.sign_in()
    machine = api.pair(user)
    assert api.anon.get("/api/sessions", auth=machine.auth).status_code == 401
    assert api.anon.post("/api/sessions/sign-out-others", auth=machine.auth).status_code == 401
    # A paired machine is not a browser session.
    assert len(api.anon.get("/api/sessions", auth=user.auth).json()) == 1
