"""Opening a vault or a team takes shortcuts (issue 19, item 8): each is held here to the
plain definition it replaces, outcome for outcome (value, or error class and message)."""

from __future__ import annotations

import base64
import re
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vault_core import errors
from vault_core.b64url import Base64UrlError, b64url_decode
from vault_core.items import KINDS, Item, validate, validate_field_by_field
from vault_core.teams import entries
from vault_core.teams.state import _copy


def outcome(check: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", check(*args)
    except errors.VaultError as error:
        return type(error).__name__, str(error)


def raw_item(**fields: Any) -> Item:
    """An Item with any field values, unchecked (as __init__ would refuse bad ones)."""
    item = object.__new__(Item)
    for name, value in fields.items():
        object.__setattr__(item, name, value)
    return item


TEXT = st.text(alphabet=st.sampled_from("ab-@.:/ \t\x00\x1f\x7f\x85é€\u2028\ud800"), max_size=6)
SIZED = st.one_of(
    TEXT,
    st.integers(0, 5000).map(lambda n: "a" * n),
    st.integers(0, 1100).map(lambda n: "é" * n),
    st.integers(0, 300).map(lambda n: "a" * n + "\x01"),
)
VALUES = st.one_of(SIZED, st.none(), st.integers(0, 3), st.builds(bytes))


@settings(max_examples=1500, deadline=None)
@given(
    name=st.one_of(SIZED, VALUES),
    kind=st.one_of(st.sampled_from(KINDS), st.just("nope")),
    url=st.one_of(st.just(""), SIZED, VALUES),
    username=st.one_of(st.just(""), SIZED, VALUES),
    secret=st.one_of(SIZED, VALUES),
    note=st.one_of(st.just(""), SIZED, VALUES),
    scopes=st.one_of(
        st.lists(st.one_of(SIZED, VALUES), max_size=3).map(tuple),
        st.integers(60, 70).map(lambda n: ("s",) * n),
        st.lists(SIZED, max_size=2),  # a list, not a tuple
    ),
    expires=st.one_of(st.none(), st.just("2027-06-30"), st.just("2027-02-30"), TEXT),
)
def test_item_validation_agrees_with_field_by_field(**fields: Any) -> None:
    item = raw_item(**fields)
    assert outcome(validate, item) == outcome(validate_field_by_field, item)


def reference_b64url(text: Any) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise Base64UrlError("not base64url")
    if len(text) % 4 == 1:
        raise Base64UrlError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text:
        raise Base64UrlError("not canonical base64url")
    return data


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.sampled_from("AQgw_-zZ09=+/ \né"), max_size=9),
        st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    )
)
def test_base64url_agrees_with_reencoding(text: str) -> None:
    assert outcome(b64url_decode, text) == outcome(reference_b64url, text)


def reference_email(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= entries.EMAIL_MAX
        or "@" not in value
        or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise errors.MalformedError("team log member email is not an address")
    return value


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.sampled_from("a@. ~!\t\x00\x7f\x85\xa0é\u2028"), max_size=8),
        st.integers(300, 330).map(lambda n: "a" * (n - 2) + "@b"),
        st.none(),
    )
)
def test_email_shortcut_agrees_with_the_definition(value: object) -> None:
    assert outcome(entries._email, value) == outcome(reference_email, value)


def test_state_copies_are_plain_dicts() -> None:
    held = {"a": 1, "b": 2}
    for view in (MappingProxyType(held), held):
        copied = _copy(view)
        assert type(copied) is dict and copied == held and copied is not held
