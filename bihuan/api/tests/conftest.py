"""API test helpers: the module city and token clients for personas."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bihuan.accounts.models import User
from bihuan.api.services import api_token_create
from bihuan.cases.tests import factories as case_factories
from bihuan.demo import data
from bihuan.leads.generator import generate_leads
from bihuan.leads.models import JointOperation
from bihuan.leads.tests import factories as lead_factories
from bihuan.leads.tests.factories import city_for_module
from bihuan.leads.workflow import LeadStatus
from bihuan.registry.generator import RegistryParams, institutions_generate
from bihuan.screening.tests import factories as screening_factories
from bihuan.territory.models import Region

HOUR = datetime.timedelta(hours=1)

PERSONAS = {
    "supervisor_city": "supervisor",
    "supervisor_xiaonan": "xiaonan",
    "coordinator_wenchang": "wenchang",
    "inspector_wenchang": "yangtiezhu",
    "officer_market": "market",
    "area_guangchang": "pianqu",
}


@pytest.fixture(scope="module")
def city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The demo city, loaded once for a test module (tests still roll back one by one)."""
    with city_for_module(django_db_blocker):
        _fill()
        yield


def _fill() -> None:
    """Records of every kind, inside and outside each persona's places, so parity is not vacuous."""
    supervisor = User.objects.get(username="supervisor")
    for code in (data.WENCHANG, data.HUAIYIN, data.QIANKUN):
        institutions_generate(
            within=Region.objects.get(code=code), params=RegistryParams(count=8, seed=len(code))
        )
    generate_leads(count=12, status=LeadStatus.DISPATCHED, seed=3)
    # References embed the generation second: a second batch needs another one.
    generate_leads(count=6, status=LeadStatus.NEW, seed=4, now=timezone.now() - HOUR)
    lead = lead_factories.lead_dispatched(supervisor)
    inspector = User.objects.get(username="yangtiezhu")
    round_ = screening_factories.issued_round(inspector)
    item = round_.tasks.get().items.order_by("pk").first()
    if item is not None:
        screening_factories.submitted_inspection(item)
    screening_factories.issued_round(
        User.objects.get(username="yangtiezhu"),
        region=Region.objects.get(code=data.HUAIYIN),
    )
    case_factories.case_make(lead=lead)
    if not JointOperation.objects.exists():
        JointOperation.objects.create(title="联合行动", region=lead.region)


def token_client(user: User) -> APIClient:
    """A client that authenticates with a fresh token of the user, as another system would."""
    _token, key = api_token_create(actor=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def client_of(db: None) -> Iterator[Callable[[str], tuple[User, APIClient]]]:
    """persona name → (user, token client)."""

    def make(persona: str) -> tuple[User, APIClient]:
        user = User.objects.get(username=PERSONAS[persona])
        return user, token_client(user)

    yield make


def all_ids(client: APIClient, url: str) -> list[Any]:
    """Every id a paginated list returns, page by page."""
    ids: list[Any] = []
    next_url: str | None = url + ("&" if "?" in url else "?") + "limit=200"
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        next_url = body["next"]
    return ids
