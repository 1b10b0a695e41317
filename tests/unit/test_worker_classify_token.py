"""The worker's ``classify_token`` op: the add/edit form's kind guess and warning come from
vault_core.token_formats in the worker, and never echo the token."""

from __future__ import annotations

import importlib
import json
from typing import Any

from tests.unit.token_format_checks import samples

TOKENS = dict(samples(8))


def call(op: str, **args: Any) -> dict[str, Any]:
    session = importlib.import_module("vault_web.worker_vault")
    reply: dict[str, Any] = json.loads(session.dispatch(op, json.dumps(args)))
    return reply


def test_guess_label_and_warning() -> None:
    glpat = TOKENS["gitlab-pat"]
    reply = call("classify_token", kind="github", secret=glpat)
    assert reply["ok"]
    result = reply["result"]
    assert result["kind"] == "gitlab"
    assert result["label"] == "GitLab personal, project, group or impersonation token"
    assert result["warning"] == (
        "This looks like a GitLab personal, project, group or impersonation token, which is"
        " usually stored as kind gitlab, not github."
    )
    assert glpat not in json.dumps(reply)
    same = call("classify_token", kind="gitlab", secret=" " + glpat + "\n")["result"]
    assert same == {"kind": "gitlab", "label": result["label"], "warning": None}
    assert call("classify_token", kind="github", secret="hunter2")["result"] == {
        "kind": None,
        "label": None,
        "warning": None,
    }
    npm = call("classify_token", kind="generic", secret=TOKENS["npm-token"])["result"]
    assert npm["kind"] == "generic" and npm["warning"] is None


def test_bad_arguments_are_typed_errors_without_the_token() -> None:
    token = TOKENS["github-classic-pat"]
    reply = call("classify_token", kind=3, secret=token)
    assert reply == {
        "ok": False,
        "code": "bad_request",
        "message": "A kind and a token are needed.",
    }
    missing = call("classify_token", secret=token)
    assert missing["ok"] is False and token not in json.dumps(missing)
