"""The audit page shows the hash chain's state, and its auditor can have it verified now."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from bihuan.accounts.models import User
from bihuan.audit import chain, triggers
from bihuan.audit.models import Event
from bihuan.audit.services import CHAIN_VERIFY_REQUESTED
from bihuan.audit.tasks import verify_chain


def _page(client: Client) -> str:
    return client.get(reverse("audit:events"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_page_shows_the_chain_head(client: Client, admin_audit: User) -> None:
    sealed = chain.seal_pending(lookback=None)
    client.force_login(admin_audit)
    page = _page(client)
    assert f"The hash chain holds {sealed} sealed events" in page
    assert "Never verified." in page


def test_verify_now_records_the_request_and_queues_the_job(
    client: Client, admin_audit: User, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(admin_audit)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("audit:chain_verify"))
    assert response.status_code == 302
    assert Event.objects.get(verb=CHAIN_VERIFY_REQUESTED).actor == admin_audit
    job = DBTaskResult.objects.get(task_path="bihuan.audit.tasks.verify_chain")
    assert job.args_kwargs["args"] == [admin_audit.pk]
    assert "A verification is queued." in _page(client)


def test_the_page_shows_an_intact_chain_once_verified(client: Client, admin_audit: User) -> None:
    chain.seal_pending(lookback=None)
    last = chain.chain_head()["seq"]
    verify_chain.call(admin_audit.pk)
    client.force_login(admin_audit)
    assert f"intact up to seal {last}." in _page(client)


@pytest.mark.parametrize("persona", ["admin_system", "supervisor_city"])
def test_nobody_else_sees_the_chain(
    client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("audit:events")).status_code == 404
    assert client.post(reverse("audit:chain_verify")).status_code == 404


def test_the_page_shows_tampering(client: Client, admin_audit: User) -> None:
    chain.seal_pending(lookback=None)
    victim = Event.objects.order_by("pk").first()
    assert victim is not None
    triggers.remove(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_event SET verb = 'forged' WHERE id = %s", [victim.pk])
    finally:
        triggers.install(connection)
    verify_chain.call(admin_audit.pk)
    client.force_login(admin_audit)
    assert "TAMPERING FOUND — 1 altered, 0 removed" in _page(client)
