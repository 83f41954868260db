"""Area pages and area services stay inside the user's place."""

from __future__ import annotations

import pytest
from django.test import Client

from bihuan.accounts.models import User
from bihuan.core.errors import NotAllowed
from bihuan.territory import services
from bihuan.territory.models import Area, AreaResponsible, Region, ResponsiblePartyKind


@pytest.fixture
def area_xiaochang(demo_city: dict[str, int]) -> Area:
    street, _ = services.region_upsert(
        actor=None, code="420921001000", name="孝昌示范街道", level="street", parent_code="420921"
    )
    community, _ = services.region_upsert(
        actor=None,
        code="420921001001",
        name="孝昌示范社区",
        level="community",
        parent_code="420921001000",
    )
    return services.area_create(
        actor=None, name="孝昌示范片区", region=street, communities=[community]
    )


def test_district_supervisor_cannot_name_a_party_of_another_districts_area(
    supervisor_xiaonan: User, area_xiaochang: Area
) -> None:
    kind = ResponsiblePartyKind.objects.get(code="street_cadre")
    with pytest.raises(NotAllowed):
        services.area_responsible_add(
            actor=supervisor_xiaonan, area=area_xiaochang, kind=kind, name="越权"
        )
    assert not AreaResponsible.objects.filter(area=area_xiaochang).exists()


def test_district_supervisor_names_a_party_of_an_area_in_the_district(
    supervisor_xiaonan: User,
) -> None:
    area = Area.objects.get(name="广场学区片区")
    kind = ResponsiblePartyKind.objects.get(code="street_cadre")
    party = services.area_responsible_add(
        actor=supervisor_xiaonan, area=area, kind=kind, name="新干部"
    )
    assert party.area == area


def test_coordinator_sees_only_their_own_community_on_the_area_page(
    coordinator_wenchang: User,
) -> None:
    client = Client()
    client.force_login(coordinator_wenchang)
    area = Area.objects.get(name="广场学区片区")
    page = client.get(f"/territory/areas/{area.pk}/").content.decode()
    assert Region.objects.get(code="420902003001").name in page
    assert "槐荫社区" not in page
    assert "广场示范小学" not in page
