"""Property-based fuzzing from the OpenAPI schema: every answer documented, zero 5xx.

Bounded: a few examples per operation and per database, well under a minute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from server.app import create_app

from .conftest import Api, make_settings

EXAMPLES = 40


@pytest.fixture(scope="session")
def fuzz_app(database_url: str, idp: str) -> Iterator[FastAPI]:
    # Generous limits: the fuzzer should reach the handlers, not the 429s.
    app = create_app(make_settings(
        database_url, idp, rate_signin_per_ip=10**6, rate_refresh_per_ip=10**6,
        rate_pairing_create_per_ip=10**6, rate_pairing_poll_per_ip=10**6,
        rate_code_attempts_per_account=10**6, rate_code_attempts_global=10**6))
    yield app
    app.state.zk.engine.dispose()


@pytest.fixture
def web_token(fuzz_app: FastAPI, idp: str) -> str:
    return Api(fuzz_app, idp).sign_in().token


def test_api_conforms_to_its_schema(fuzz_app, web_token):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_app)
    headers = {"Authorization": f"Bearer {web_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25  # the schema really lists the API

    seen: Counter[int] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            # Schema-valid is not the same as acceptable here (a forged sign-in
            # state, a vault header naming another account): those 4xx are right.
            response = case.call_and_validate(
                headers=headers, excluded_checks=[positive_data_acceptance])
            seen[response.status_code] += 1

        check()
    # The fuzzer reached the handlers: successes, typed refusals, and no 5xx.
    assert sum(n for code, n in seen.items() if 200 <= code < 300) > 20, seen
    assert seen[422] > 20 and seen[404] > 0, seen
    assert not any(code >= 500 for code in seen), seen
