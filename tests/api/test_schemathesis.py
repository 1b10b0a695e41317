"""Property-based fuzzing from the OpenAPI schema: every answer documented, zero 5xx.

Bounded: a few examples per operation and per database, well under a minute.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .conftest import BASE_URL, Api, User

EXAMPLES = 40


@pytest.fixture
def web_user(roomy_app: FastAPI, idp: str) -> User:
    return Api(roomy_app, idp).sign_in()


def test_api_conforms_to_its_schema(roomy_app: FastAPI, web_user: User) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", roomy_app)

    def headers(case: Case[Any]) -> dict[str, str]:
        """The web token and a fresh proof for this very request (its method and path)."""
        return web_user.key.headers(
            case.method.upper(), BASE_URL + case.formatted_path, web_user.token
        )

    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # a part of the schema it cannot read
        operations.append(result.ok())
    assert len(operations) >= 25  # the schema really lists the API

    seen: Counter[int] = Counter()
    for operation in operations:
        # Case[Any]: as_strategy() is typed SearchStrategy[Case], its operation unnamed.
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Case[Any]) -> None:
            # Schema-valid is not the same as acceptable here (a forged sign-in
            # state, a vault header naming another account): those 4xx are right.
            response = case.call_and_validate(
                headers=headers(case), excluded_checks=[positive_data_acceptance]
            )
            seen[response.status_code] += 1

        check()
    # The fuzzer reached the handlers: successes, typed refusals, and no 5xx.
    assert sum(n for code, n in seen.items() if 200 <= code < 300) > 20, seen
    assert seen[422] > 20 and seen[404] > 0, seen
    assert not any(code >= 500 for code in seen), seen
