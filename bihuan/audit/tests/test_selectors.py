"""The audit log is read by the audit administrator, all of it, and by nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from bihuan.accounts import services as account_services
from bihuan.accounts.models import User
from bihuan.accounts.tests.test_scope_matrix import PERSONAS, city_for_module
from bihuan.audit.models import Event
from bihuan.audit.selectors import events_visible_to

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


def test_auditor_sees_every_event(admin_audit: User) -> None:
    assert set(events_visible_to(admin_audit).values_list("pk", flat=True)) == set(
        Event.objects.values_list("pk", flat=True)
    )


def test_auditor_sees_an_event_written_after_them(admin_audit: User, admin_system: User) -> None:
    account_services.user_create(
        actor=admin_system, username="newcomer", password="Matrix@2027pw", display_name="新人"
    )
    assert events_visible_to(admin_audit).filter(verb="user.created", object_repr="新人").exists()


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "admin_audit"])
def test_nobody_else_sees_any_event(request: pytest.FixtureRequest, persona: str) -> None:
    assert Event.objects.exists()
    assert not events_visible_to(request.getfixturevalue(persona)).exists()


def test_anonymous_visitor_sees_no_event() -> None:
    assert not events_visible_to(AnonymousUser()).exists()


def test_auditor_whose_role_ended_sees_no_event(admin_audit: User, admin_security: User) -> None:
    account_services.assignment_end(
        actor=admin_security, assignment=admin_audit.assignments.get(is_active=True)
    )
    assert not events_visible_to(User.objects.get(pk=admin_audit.pk)).exists()


def test_disabled_auditor_sees_no_event(admin_audit: User) -> None:
    # An administrator's account is disabled from the server console (no acting user).
    account_services.user_set_active(actor=None, user=admin_audit, active=False)
    assert not events_visible_to(User.objects.get(pk=admin_audit.pk)).exists()
