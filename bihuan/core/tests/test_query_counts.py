"""List pages and the home page run a fixed number of queries, however many rows they show.

Each case counts the queries of one page for one persona on the demo city, adds ``N`` more
records of what the page lists (through the services), checks that the page shows them, and
counts again: the count must not grow (no query per row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bihuan.accounts import services as account_services
from bihuan.accounts.models import Role, User
from bihuan.accounts.tests.test_scope_matrix import NEW_PASSWORD, PERSONAS, city_for_module
from bihuan.territory import services as territory_services
from bihuan.territory.models import Area, Region

pytestmark = pytest.mark.django_db

N = 3
# Every page below runs 7 to 12 queries today (session, user, scope, page, count, …).
QUERY_BUDGET = 15


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker, elsewhere=False):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


def add_provinces() -> None:
    for i in range(1, N + 1):
        territory_services.region_upsert(
            actor=None, code=f"{10 + i}0000", name=f"计数省{i}", level="province", parent_code=None
        )


def add_communities() -> None:
    for i in range(1, N + 1):
        territory_services.region_upsert(
            actor=None,
            code=f"42090200300{3 + i}",
            name=f"计数社区{i}",
            level="community",
            parent_code="420902003000",
        )


def add_areas() -> None:
    for i in range(1, N + 1):
        territory_services.area_create(
            actor=None,
            name=f"计数片区{i}",
            region=_region("420902003000"),
            communities=[_region("420902003001"), _region("420902003002")],
        )


def add_sentinels() -> None:
    area = Area.objects.get(name="广场学区片区")
    for i in range(1, N + 1):
        territory_services.sentinel_create(
            actor=None,
            kind="school",
            name=f"计数学校{i}",
            region=_region("420902003001"),
            area=area,
        )


def add_departments() -> None:
    for i, kind in enumerate(["culture_tourism", "science_tech", "public_security"][:N], 1):
        account_services.department_upsert(
            actor=None,
            kind=kind,
            name=f"计数部门{i}",
            short_name=f"计数{i}",
            jurisdiction=_region("420902"),
        )


def add_inspectors() -> None:
    for i in range(1, N + 1):
        user = account_services.user_create(
            actor=None,
            username=f"count_inspector{i}",
            password=NEW_PASSWORD,
            display_name=f"计数排查员{i}",
        )
        account_services.assignment_grant(
            actor=None, user=user, role=Role.INSPECTOR, region=_region("420902003001")
        )


def add_locked_accounts_without_role() -> None:
    for i in range(1, N + 1):
        account_services.user_create(
            actor=None, username=f"count{i}", password=NEW_PASSWORD, display_name=f"计数账号{i}"
        )
        for _ in range(settings.LOCKOUT_THRESHOLD):
            account_services.login_attempt(username=f"count{i}", password="wrong password")


def add_what_home_pages_show() -> None:
    add_areas()
    add_communities()
    add_inspectors()
    add_locked_accounts_without_role()


@dataclass(frozen=True)
class Page:
    """A page, who opens it, what to add to it, and what the page shows of the first addition."""

    name: str
    url: str
    personas: tuple[str, ...]
    add: Callable[[], None]
    mark: str


PLACE_READERS = ("admin_system", "supervisor_city", "coordinator_wenchang", "inspector_wenchang")

PAGES = [
    Page(
        "region_tree",
        "territory:regions",
        ("admin_system", "admin_security"),
        add_provinces,
        "计数省1",
    ),
    Page(
        "region_search",
        "territory:regions?q=420902003",
        ("admin_system", "supervisor_city", "area_guangchang"),
        add_communities,
        "计数社区1",
    ),
    Page("areas", "territory:areas", PLACE_READERS, add_areas, "计数片区1"),
    Page("sentinels", "territory:sentinels", PLACE_READERS, add_sentinels, "计数学校1"),
    Page("departments", "accounts:departments", PLACE_READERS, add_departments, "计数部门1"),
    Page(
        "users",
        "accounts:users",
        ("admin_system", "supervisor_city", "coordinator_wenchang"),
        add_inspectors,
        "count_inspector1",
    ),
    Page(
        "events",
        "audit:events?verb=user.created",
        ("admin_audit",),
        add_inspectors,
        "计数排查员1",
    ),
]

# What each persona's home page shows of add_what_home_pages_show().
HOME_MARKS = {
    "admin_system": "计数账号1",  # accounts without any role
    "admin_security": "计数账号1",  # locked accounts
    "admin_audit": "count3 login.locked",  # failed logins, newest first
    "supervisor_city": "计数社区1",  # communities that are not yet sentinels
    "supervisor_xiaonan": "计数片区1",  # areas without a named responsible party
    "coordinator_wenchang": "计数排查员1",  # inspectors of the community
    "coordinator_huaiyin": "计数片区1",
    "inspector_wenchang": "计数片区1",  # areas of the place
    "officer_market": "计数片区1",
    "school_tiyulu": "计数片区1",
    "area_guangchang": "计数社区1",
}


def _url(spec: str) -> str:
    name, _, query = spec.partition("?")
    return reverse(name) + (f"?{query}" if query else "")


def _count(client: Client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def _assert_constant(
    client: Client, user: User, url: str, add: Callable[[], None], mark: str
) -> None:
    client.force_login(user)
    client.get(url)  # the first request of a session may set it up
    before, content = _count(client, url)
    assert mark not in content
    add()
    after, content = _count(client, url)
    assert mark in content
    assert after == before <= QUERY_BUDGET


def _page_cases() -> list[Any]:
    return [
        pytest.param(page, persona, id=f"{page.name}-{persona}")
        for page in PAGES
        for persona in page.personas
    ]


@pytest.mark.parametrize(("page", "persona"), _page_cases())
def test_list_page_runs_the_same_queries_for_more_rows(
    client: Client, request: pytest.FixtureRequest, page: Page, persona: str
) -> None:
    user = request.getfixturevalue(persona)
    _assert_constant(client, user, _url(page.url), page.add, page.mark)


@pytest.mark.parametrize("persona", PERSONAS)
def test_home_page_runs_the_same_queries_for_more_rows(
    client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    user = request.getfixturevalue(persona)
    url = reverse("accounts:home")
    _assert_constant(client, user, url, add_what_home_pages_show, HOME_MARKS[persona])
