"""Schemathesis over the whole OpenAPI schema, as several roles: no request may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from bihuan.accounts.models import User
from bihuan.api.services import api_token_create

pytestmark = pytest.mark.usefixtures("city")

ROLES = {
    "supervisor": "supervisor",
    "coordinator": "wenchang",
    "officer": "xnmarket",
    "inspector": "yangtiezhu",
}

# Small on purpose: 4 roles × every operation × this many cases must stay well under two minutes.
EXAMPLES = 6


@pytest.fixture
def _keep_connection() -> Iterator[None]:
    """As Django's test client does: a finished request must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", list(ROLES))
def test_no_request_causes_a_server_error(db: None, _keep_connection: None, role: str) -> None:
    # In-process WSGI calls share the test's connection, so they see the city and roll back with it.
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    user = User.objects.get(username=ROLES[role])
    _token, key = api_token_create(actor=user, name=f"schemathesis {role}")
    headers = {"Authorization": f"Token {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 25
    calls: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            calls.append(f"{case.method} {case.path} {response.status_code}")
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        run()
    assert len(calls) >= len(operations)
    # The token was honoured: the role read real data, not only 401s.
    assert sum(call.endswith(" 200") for call in calls) >= len(operations) // 2, calls
