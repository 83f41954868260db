"""Scope parity: the API lists exactly what the pages' selectors return, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bihuan.api.tests.conftest import PERSONAS, all_ids
from bihuan.cases.selectors import cases_visible_to
from bihuan.leads.selectors import (
    joint_operations_visible_to,
    leads_visible_to,
    work_orders_visible_to,
)
from bihuan.registry.selectors import institutions_visible_to
from bihuan.screening.selectors import inspections_visible_to, rounds_visible_to, tasks_visible_to
from bihuan.territory.selectors import regions_visible_to

pytestmark = pytest.mark.usefixtures("city")

RESOURCES: dict[str, Callable[[Any], Any]] = {
    "regions": regions_visible_to,
    "institutions": institutions_visible_to,
    "rounds": rounds_visible_to,
    "tasks": tasks_visible_to,
    "inspections": inspections_visible_to,
    "leads": leads_visible_to,
    "work-orders": work_orders_visible_to,
    "joint-operations": joint_operations_visible_to,
    "cases": cases_visible_to,
}


@pytest.mark.parametrize("persona", list(PERSONAS))
@pytest.mark.parametrize("resource", list(RESOURCES))
def test_api_lists_what_the_page_selector_returns(
    client_of: Any, persona: str, resource: str
) -> None:
    user, client = client_of(persona)
    expected = sorted(RESOURCES[resource](user).values_list("pk", flat=True))
    assert sorted(all_ids(client, f"/api/v1/{resource}/")) == expected


@pytest.mark.parametrize(
    "persona", ["officer_market", "coordinator_wenchang", "supervisor_xiaonan"]
)
@pytest.mark.parametrize("resource", ["institutions", "leads", "work-orders", "regions"])
def test_record_outside_scope_is_not_found(client_of: Any, persona: str, resource: str) -> None:
    user, client = client_of(persona)
    model = RESOURCES[resource](user).model
    outside = model.objects.exclude(pk__in=RESOURCES[resource](user).values("pk")).first()
    if outside is None:
        # Nothing of this kind lies outside the persona's places here: then it sees all of it.
        assert RESOURCES[resource](user).count() == model.objects.count()
        return
    assert client.get(f"/api/v1/{resource}/{outside.pk}/").status_code == 404


def test_some_persona_sees_part_only_so_parity_is_not_vacuous(client_of: Any) -> None:
    city, _ = client_of("supervisor_city")
    community, _ = client_of("coordinator_wenchang")
    assert 0 < institutions_visible_to(community).count() < institutions_visible_to(city).count()
    assert 0 < leads_visible_to(community).count() < leads_visible_to(city).count()
    assert work_orders_visible_to(city).count() > 0


def test_user_without_roles_sees_nothing(client_of: Any, django_user_model: Any) -> None:
    from bihuan.api.tests.conftest import token_client

    nobody = django_user_model.objects.create_user("nobody", password="x-Secret-123")
    client = token_client(nobody)
    for resource in RESOURCES:
        assert client.get(f"/api/v1/{resource}/?count=true").json()["count"] == 0


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_list_query_count_does_not_grow_with_rows(
    client_of: Any, resource: str, django_assert_max_num_queries: Any
) -> None:
    _user, client = client_of("supervisor_city")
    # Token, scope, count, rows; joint operations also fetch their departments and participants.
    budget = 8 if resource == "joint-operations" else 6
    with django_assert_max_num_queries(budget):
        response = client.get(f"/api/v1/{resource}/?limit=200")
    assert response.status_code == 200


def test_filters_narrow_the_list_by_status_and_region(client_of: Any) -> None:
    from bihuan.territory.models import Region

    user, client = client_of("supervisor_city")
    orders = work_orders_visible_to(user)
    some = orders.first()
    assert some is not None
    by_status = all_ids(client, f"/api/v1/work-orders/?status={some.status}")
    assert sorted(by_status) == sorted(
        orders.filter(status=some.status).values_list("pk", flat=True)
    )
    first = institutions_visible_to(user).first()
    assert first is not None
    region = Region.objects.get(pk=first.region_id)
    ids = all_ids(client, f"/api/v1/institutions/?region={region.pk}")
    expected = institutions_visible_to(user).filter(region__path__startswith=region.path)
    assert sorted(ids) == sorted(expected.values_list("pk", flat=True))


def test_page_size_is_capped_at_200(client_of: Any) -> None:
    _user, client = client_of("supervisor_city")
    body = client.get("/api/v1/regions/?limit=5000").json()
    assert len(body["results"]) <= 200


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_a_list_row_is_what_the_detail_serializer_gives(client_of: Any, resource: str) -> None:
    # Plain shapes are listed from .values(); each row must equal the serializer's own output.
    _user, client = client_of("supervisor_city")
    rows = client.get(f"/api/v1/{resource}/?limit=200").json()["results"]
    assert rows, resource
    for row in rows[:25]:
        detail = client.get(f"/api/v1/{resource}/{row['id']}/")
        assert detail.status_code == 200
        assert detail.json() == row


def test_count_is_given_on_request_and_pages_follow_on(client_of: Any) -> None:
    user, client = client_of("supervisor_city")
    total = institutions_visible_to(user).count()
    first = client.get("/api/v1/institutions/?limit=5").json()
    assert first["count"] is None and len(first["results"]) == 5 and first["previous"] is None
    counted = client.get("/api/v1/institutions/?limit=5&count=true").json()
    assert counted["count"] == total
    last = client.get(f"/api/v1/institutions/?limit=5&offset={total - 2}").json()
    assert len(last["results"]) == 2 and last["next"] is None and last["previous"]
    exact = client.get(f"/api/v1/institutions/?limit=5&offset={total - 5}").json()
    assert len(exact["results"]) == 5 and exact["next"] is None
