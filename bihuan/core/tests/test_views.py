"""The health check and the 404 page."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_reports_the_database_answer(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["answer"] == 1
    assert body["database"] in {"sqlite", "postgresql"}


@pytest.mark.django_db
def test_unknown_page_is_404_in_chinese_by_default(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
