"""The loop's health page: who may read which slice, the tabs, sorting, htmx, XLSX, query count.

A slice outside the user's is a 404, and so is the page for a user with no slice at all.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from bihuan.accounts.models import Department, User
from bihuan.core.exports import XLSX_TYPE
from bihuan.demo import data
from bihuan.leads.tests import factories as lf
from bihuan.territory.models import Area, Region

pytestmark = pytest.mark.django_db

URL = "/reports/health/"
XIAOCHANG = "420921"


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with lf.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _english(demo_city: dict[str, int], settings: Any) -> None:
    # The assertions read the English strings; the Chinese catalogue is filled separately.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def dispatched(supervisor_city: User) -> None:
    """One lead of the B3 story dispatched today: orders to 孝南区教育局 and 孝南区市场监管局."""
    lf.lead_dispatched(supervisor_city, place_name="健康页测试线索")


def _get(client: Client, user: User | None, **params: str) -> Any:
    if user is not None:
        client.force_login(user)
    return client.get(URL, params)


def _region(code: str) -> str:
    return f"region:{Region.objects.get(code=code).pk}"


def _department(short_name: str) -> str:
    return f"department:{Department.objects.get(short_name=short_name).pk}"


def _area() -> str:
    return f"area:{Area.objects.get(name=data.AREA.name).pk}"


READERS = [
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "area_guangchang",
    "officer_market",
    "officer_market_xiaonan",
]
NOBODY = ["inspector_wenchang", "school_tiyulu", "admin_system", "admin_security", "admin_audit"]


@pytest.mark.parametrize("persona", READERS)
def test_users_with_a_slice_read_their_page(
    persona: str, request: pytest.FixtureRequest, client: Client
) -> None:
    response = _get(client, request.getfixturevalue(persona))
    assert response.status_code == 200
    assert b'id="health-ranking"' in response.content


@pytest.mark.parametrize("persona", NOBODY)
def test_users_without_a_slice_get_404(
    persona: str, request: pytest.FixtureRequest, client: Client
) -> None:
    assert _get(client, request.getfixturevalue(persona)).status_code == 404


def test_anonymous_users_are_sent_to_sign_in(client: Client) -> None:
    response = _get(client, None)
    assert response.status_code == 302
    assert "login" in response["Location"]


OUTSIDE: list[tuple[str, Callable[[], str]]] = [
    ("supervisor_xiaonan", lambda: _region(XIAOCHANG)),
    ("supervisor_xiaonan", lambda: _region(data.XIAOGAN)),
    ("coordinator_wenchang", lambda: _region(data.XIAONAN)),
    ("coordinator_wenchang", lambda: _department(lf.MARKET_XIAONAN)),
    ("area_guangchang", lambda: _region(data.XIAONAN)),
    ("officer_market", lambda: _department(lf.MARKET_XIAONAN)),
    ("officer_market_xiaonan", lambda: _department(lf.EDUCATION_XIAONAN)),
    ("officer_market_xiaonan", lambda: _area()),
    ("supervisor_city", lambda: "region:not-a-number"),
    ("supervisor_city", lambda: "department:999999"),
]


@pytest.mark.parametrize(("persona", "key"), OUTSIDE)
def test_a_slice_outside_the_users_is_404(
    persona: str, key: Callable[[], str], request: pytest.FixtureRequest, client: Client
) -> None:
    user = request.getfixturevalue(persona)
    assert _get(client, user, scope=key()).status_code == 404
    assert _get(client, user, scope=key(), format="xlsx").status_code == 404


INSIDE: list[tuple[str, Callable[[], str]]] = [
    ("supervisor_xiaonan", lambda: _region(data.WENCHANG)),
    ("supervisor_city", lambda: _region(XIAOCHANG)),
    ("area_guangchang", _area),
    ("officer_market_xiaonan", lambda: _department(lf.MARKET_XIAONAN)),
]


@pytest.mark.parametrize(("persona", "key"), INSIDE)
def test_a_slice_inside_the_users_is_shown(
    persona: str, key: Callable[[], str], request: pytest.FixtureRequest, client: Client
) -> None:
    assert _get(client, request.getfixturevalue(persona), scope=key()).status_code == 200


def test_supervisor_sees_a_row_per_department(
    dispatched: None, supervisor_city: User, client: Client
) -> None:
    text = _get(client, supervisor_city).content.decode()
    assert lf.EDUCATION_XIAONAN in text
    assert lf.MARKET_XIAONAN in text


def test_department_officer_sees_only_their_departments_row(
    dispatched: None, officer_market_xiaonan: User, client: Client
) -> None:
    text = _get(client, officer_market_xiaonan).content.decode()
    table = text[text.index('id="health-ranking"') :]
    assert lf.MARKET_XIAONAN in table
    assert lf.EDUCATION_XIAONAN not in table


def test_district_tab_names_the_district(
    dispatched: None, supervisor_city: User, client: Client
) -> None:
    text = _get(client, supervisor_city, by="district").content.decode()
    table = text[text.index('id="health-ranking"') :]
    assert "孝南区" in table
    assert lf.MARKET_XIAONAN not in table


def test_an_unknown_tab_or_sort_falls_back_to_the_defaults(
    supervisor_city: User, client: Client
) -> None:
    response = _get(client, supervisor_city, by="planet", sort="'; drop table")
    assert response.status_code == 200
    assert 'aria-sort="descending"' in response.content.decode()


def test_htmx_request_gets_the_table_only(
    dispatched: None, supervisor_city: User, client: Client
) -> None:
    client.force_login(supervisor_city)
    response = client.get(URL, {"sort": "orders"}, HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="health-table">')
    assert "<h1>" not in text
    assert 'aria-sort="ascending"' in text


def test_column_heading_links_toggle_the_sort(
    dispatched: None, supervisor_city: User, client: Client
) -> None:
    text = _get(client, supervisor_city, sort="-orders").content.decode()
    assert "sort=orders" in text  # the current column's link reverses it
    assert "sort=overdue_now" in text  # another column's link shows its best first (fewest)


def test_xlsx_export_has_a_row_per_department_and_the_total(
    dispatched: None, supervisor_xiaonan: User, client: Client
) -> None:
    response = _get(client, supervisor_xiaonan, format="xlsx", sort="label")
    assert response["Content-Type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "Department"
    names = [row[0] for row in rows[1:]]
    assert names == [*sorted([lf.EDUCATION_XIAONAN, lf.MARKET_XIAONAN]), "Total"]
    assert [row[1] for row in rows[1:]] == [1, 1, 2]  # one order each, two in all


def _queries(client: Client, user: User, **params: str) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL, params).status_code == 200
    return len(captured)


@pytest.mark.parametrize("by", ["department", "district", "area"])
def test_query_count_does_not_grow_with_rows(
    by: str, supervisor_city: User, client: Client, django_assert_max_num_queries: Any
) -> None:
    lf.lead_dispatched(supervisor_city, place_name="第一条线索")
    before = _queries(client, supervisor_city, by=by)
    for name, code in (("第二条", data.HUAIYIN), ("第三条", XIAOCHANG), ("第四条", data.XIAONAN)):
        lf.lead_dispatched(supervisor_city, place_name=name, region=lf.region(code))
    assert _queries(client, supervisor_city, by=by) == before
    with django_assert_max_num_queries(16):
        client.get(URL, {"by": by})
