"""The synthetic registry generator: reproducible, synthetic, inside the place it was given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bihuan.audit.models import Event
from bihuan.core.errors import ServiceError
from bihuan.demo import data
from bihuan.leads.tests.factories import city_for_module
from bihuan.registry.generator import RegistryParams, institutions_generate, plan_institutions
from bihuan.registry.models import Category, Institution, Source, Status
from bihuan.territory.models import Level, Region

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


COMMUNITIES = [(1, "甲社区"), (2, "乙社区"), (3, "丙社区")]


def _fields(rows: list[Institution]) -> list[tuple[Any, ...]]:
    return [
        (r.name, r.name_normalized, r.region_id, r.category, r.status, r.contact_phone)
        for r in rows
    ]


def test_the_same_seed_gives_the_same_institutions() -> None:
    params = RegistryParams(count=200, seed=5)
    assert _fields(plan_institutions(params, COMMUNITIES)) == _fields(
        plan_institutions(params, COMMUNITIES)
    )


def test_another_seed_gives_other_institutions() -> None:
    one = plan_institutions(RegistryParams(count=200, seed=5), COMMUNITIES)
    two = plan_institutions(RegistryParams(count=200, seed=6), COMMUNITIES)
    assert _fields(one) != _fields(two)


def test_shares_of_field_finds_and_unlicensed_places_follow_the_parameters() -> None:
    rows = plan_institutions(
        RegistryParams(count=4000, seed=1, pending_share=0.1, unlicensed_share=0.2), COMMUNITIES
    )
    pending = sum(r.status == Status.PENDING for r in rows) / len(rows)
    unlicensed = sum(r.category == Category.NONE for r in rows) / len(rows)
    assert 0.08 < pending < 0.12
    # The share, plus the kinds that never hold a licence (托管班, 学习屋).
    assert 0.2 < unlicensed < 0.5


@pytest.mark.parametrize(
    "params",
    [
        RegistryParams(count=-1),
        RegistryParams(pending_share=1.5),
        RegistryParams(unlicensed_share=-0.1),
    ],
)
def test_impossible_parameters_are_refused(params: RegistryParams) -> None:
    with pytest.raises(ServiceError):
        plan_institutions(params, COMMUNITIES)


def test_generated_institutions_are_synthetic_and_inside_the_place(
    demo_city: dict[str, int],
) -> None:
    xiaonan = Region.objects.get(code=data.XIAONAN)
    before = Institution.objects.count()
    made = institutions_generate(within=xiaonan, params=RegistryParams(count=300, seed=3))
    rows = Institution.objects.all()[before:]
    assert made == 300 and Institution.objects.count() == before + 300
    communities = set(
        Region.objects.filter(path__startswith=xiaonan.path, level=Level.COMMUNITY).values_list(
            "pk", flat=True
        )
    )
    for row in Institution.objects.filter(source=Source.GENERATED):
        assert row.is_synthetic and row.contact_phone.startswith("100")
        assert row.region_id in communities and row.community_id == row.region_id
    assert len(rows) == 300
    event = Event.objects.get(verb="registry.generated")
    assert event.after is not None and event.after["rows"] == 300


def test_a_place_without_communities_is_refused(demo_city: dict[str, int]) -> None:
    with pytest.raises(ServiceError):
        plan_institutions(RegistryParams(count=1), [])
