"""The scope stamp: the database bumps it on every change that can change a scope, so a scope a
process kept for an API caller is never used after the caller's assignments changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from bihuan.accounts import services
from bihuan.accounts.models import Assignment, Role, ScopeStamp, User
from bihuan.api.tests.conftest import token_client
from bihuan.demo import data
from bihuan.leads.tests.factories import institution_make
from bihuan.territory.models import Region


def _stamp(user: User) -> int | None:
    return ScopeStamp.objects.filter(user_id=user.pk).values_list("version", flat=True).first()


def test_every_demo_user_with_a_role_has_a_stamp(
    demo_city: dict[str, int], supervisor_city: User
) -> None:
    holders = set(Assignment.objects.values_list("user_id", flat=True))
    assert holders <= set(ScopeStamp.objects.values_list("user_id", flat=True))


def test_granting_and_ending_an_assignment_bump_the_stamp(
    admin_security: User, coordinator_wenchang: User
) -> None:
    before = _stamp(coordinator_wenchang)
    assert before is not None
    grant = services.assignment_grant(
        actor=admin_security,
        user=coordinator_wenchang,
        role=Role.COORDINATOR,
        region=Region.objects.get(code=data.HUAIYIN),
    )
    granted = _stamp(coordinator_wenchang)
    assert granted is not None and granted > before
    services.assignment_end(actor=admin_security, assignment=grant)
    ended = _stamp(coordinator_wenchang)
    assert ended is not None and ended > granted


def test_a_raw_write_behind_the_services_back_bumps_it_too(
    coordinator_wenchang: User,
) -> None:
    before = _stamp(coordinator_wenchang)
    assert before is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_assignment SET is_active = %s WHERE user_id = %s",
            [False, coordinator_wenchang.pk],
        )
    after = _stamp(coordinator_wenchang)
    assert after is not None and after > before


def test_a_region_path_change_bumps_every_stamp(
    supervisor_city: User, coordinator_wenchang: User
) -> None:
    before = dict(ScopeStamp.objects.values_list("user_id", "version"))
    region = Region.objects.get(code=data.WENCHANG)
    region.save()  # the same path: nothing to bump
    assert dict(ScopeStamp.objects.values_list("user_id", "version")) == before
    Region.objects.filter(pk=region.pk).update(path=region.path + "x/")
    after = dict(ScopeStamp.objects.values_list("user_id", "version"))
    assert all(after[user] > version for user, version in before.items())


def test_an_ended_role_stops_working_on_the_next_api_request(
    admin_security: User, coordinator_wenchang: User
) -> None:
    institution_make()
    client = token_client(coordinator_wenchang)
    listed = client.get("/api/v1/institutions/?limit=5").json()["results"]
    assert listed
    again = client.get("/api/v1/institutions/?limit=5").json()["results"]
    assert again == listed  # served from the kept scope
    for assignment in coordinator_wenchang.assignments.filter(is_active=True):
        services.assignment_end(actor=admin_security, assignment=assignment)
    assert client.get("/api/v1/institutions/?limit=5").json()["results"] == []
    assert client.get(f"/api/v1/institutions/{listed[0]['id']}/").status_code == 404


def test_a_kept_scope_saves_the_assignment_query(
    coordinator_wenchang: User, django_assert_num_queries: Any
) -> None:
    client = token_client(coordinator_wenchang)
    assert client.get("/api/v1/institutions/?limit=5").status_code == 200
    # The token with its user and stamp, then the rows: no read of the assignments.
    with django_assert_num_queries(2):
        assert client.get("/api/v1/institutions/?limit=5").status_code == 200


@pytest.mark.parametrize("write", ["insert", "delete"])
def test_stamps_follow_inserts_and_deletes(
    supervisor_city: User, admin_security: User, write: str
) -> None:
    user = User.objects.create_user("stamped", password="Stamp-secret-2026")
    assert _stamp(user) is None
    region = Region.objects.get(code=data.WENCHANG)
    assignment = Assignment.objects.create(user=user, role=Role.COORDINATOR, region=region)
    first = _stamp(user)
    assert first is not None
    if write == "delete":
        # Assignments are never deleted by the application; the database still keeps count.
        Assignment.objects.filter(pk=assignment.pk).delete()
        later = _stamp(user)
        assert later is not None and later > first
