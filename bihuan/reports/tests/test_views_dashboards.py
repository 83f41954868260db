"""The dashboard pages: who may open which slice, what the figures count, and bounded queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bihuan.accounts.models import Department, User
from bihuan.demo import data
from bihuan.leads.tests import factories as lf
from bihuan.reports import figures
from bihuan.reports.scope import scopes_of
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db

PAGES = (
    "reports:dashboard",
    "reports:dashboard_data",
    "reports:dashboard_map",
    "reports:big_screen",
)
READERS = (
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "officer_market",
    "area_guangchang",
)
NOBODY = ("inspector_wenchang", "admin_system", "school_tiyulu")


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with lf.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    # Tests that take personas by name ask for this too: set up through getfixturevalue, the
    # module's city would open inside the first test's transaction and vanish with it.
    return {}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _get(user: User, name: str, scope: str | None = None, **params: str) -> Any:
    if scope is not None:
        params["scope"] = scope
    return _client(user).get(reverse(name), params)


def _region_key(code: str) -> str:
    return f"region:{Region.objects.get(code=code).pk}"


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("persona", READERS)
def test_every_reader_opens_their_own_dashboard(
    name: str, persona: str, request: pytest.FixtureRequest, demo_city: Any
) -> None:
    user = request.getfixturevalue(persona)
    assert _get(user, name).status_code == 200


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("persona", NOBODY)
def test_users_without_a_slice_get_404(
    name: str, persona: str, request: pytest.FixtureRequest, demo_city: Any
) -> None:
    user = request.getfixturevalue(persona)
    assert _get(user, name).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_signed_out_visitors_are_sent_to_sign_in(name: str, demo_city: dict[str, int]) -> None:
    response = Client().get(reverse(name))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    ("persona", "slice_of"),
    [
        ("coordinator_wenchang", lambda: _region_key(data.HUAIYIN)),
        ("coordinator_wenchang", lambda: _region_key(data.XIAONAN)),
        ("supervisor_xiaonan", lambda: _region_key(data.XIAONAN[:4] + "00")),
        (
            "officer_market",
            lambda: f"department:{Department.objects.get(short_name=lf.POLICE_CITY).pk}",
        ),
        ("area_guangchang", lambda: _region_key(data.WENCHANG)),
        ("supervisor_city", lambda: "area:999999"),
        ("supervisor_city", lambda: "region:abc"),
    ],
)
def test_a_slice_outside_the_users_is_404(
    name: str, persona: str, slice_of: Any, request: pytest.FixtureRequest, demo_city: Any
) -> None:
    user = request.getfixturevalue(persona)
    assert _get(user, name, slice_of()).status_code == 404


def test_a_supervisor_drills_into_a_community_below_their_place(supervisor_city: User) -> None:
    response = _get(supervisor_city, "reports:dashboard", _region_key(data.WENCHANG))
    assert response.status_code == 200
    assert response.context["scope"].label == "文昌社区"


def test_a_coordinators_dashboard_counts_only_their_community(
    coordinator_wenchang: User, supervisor_city: User
) -> None:
    lf.lead_tip()
    lf.lead_tip(region=lf.region(data.HUAIYIN))
    lf.lead_tip(region=lf.region(data.HUAIYIN))
    mine = _get(coordinator_wenchang, "reports:dashboard_data").json()
    city = _get(supervisor_city, "reports:dashboard_data").json()
    assert mine["label"] == "文昌社区"
    assert mine["figures"]["leads"] == 1
    assert mine["trend"]["leads"][-1] == 1
    assert city["figures"]["leads"] == 3


def test_the_page_embeds_the_same_series_as_data_json(supervisor_city: User) -> None:
    lf.lead_accepted(supervisor_city, ("B3",))
    page = _get(supervisor_city, "reports:dashboard")
    embedded = page.context["series"]
    served = _get(supervisor_city, "reports:dashboard_data").json()
    assert json.loads(json.dumps(embedded)) == served
    assert b'id="dashboard-series"' in page.content


def test_each_figure_links_to_the_records_behind_it(supervisor_city: User) -> None:
    page = _get(supervisor_city, "reports:dashboard")
    key = scopes_of(supervisor_city)[0].key
    html = page.content.decode()
    for metric in ("person_times", "institutions", "leads", "disguised_cases", "refunds"):
        url = reverse("reports:records", args=[metric])
        assert f'href="{url}?scope={key.replace(":", "%3A")}&amp;period=ytd"' in html


def test_a_department_slice_shows_no_institution_figure(officer_market: User) -> None:
    page = _get(officer_market, "reports:dashboard")
    card = next(c for c in page.context["cards"] if c["metric"] == "institutions")
    assert card["value"] is None
    assert card["visits"] is None


def test_the_big_screen_has_no_site_header_and_refreshes_every_minute(
    supervisor_city: User,
) -> None:
    html = _get(supervisor_city, "reports:big_screen").content.decode()
    assert 'class="big-screen"' in html
    assert 'class="top"' not in html
    assert 'data-refresh-seconds="60"' in html


@pytest.mark.parametrize(
    ("asked", "used"), [("1", "5"), ("30", "30"), ("x", "60"), ("9999", "3600")]
)
def test_the_big_screen_refresh_interval_is_kept_in_bounds(
    supervisor_city: User, asked: str, used: str
) -> None:
    html = _get(supervisor_city, "reports:big_screen", refresh=asked).content.decode()
    assert f'data-refresh-seconds="{used}"' in html


def test_the_map_is_geojson_of_the_slice(coordinator_wenchang: User) -> None:
    inside = lf.institution_make("文昌测试机构")
    outside = lf.institution_make("槐荫测试机构", region_code=data.HUAIYIN)
    for institution in (inside, outside):
        type(institution).objects.filter(pk=institution.pk).update(latitude=30.9, longitude=113.9)
    collection = _get(coordinator_wenchang, "reports:dashboard_map").json()
    assert collection["type"] == "FeatureCollection"
    names = {f["properties"]["name"] for f in collection["features"]}
    assert "文昌测试机构" in names
    assert "槐荫测试机构" not in names


def _queries(user: User, name: str) -> int:
    client = _client(user)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse(name)).status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", PAGES)
def test_queries_do_not_grow_with_the_records(name: str, supervisor_city: User) -> None:
    lf.lead_dispatched(supervisor_city)
    before = _queries(supervisor_city, name)
    for _ in range(4):
        lf.lead_dispatched(supervisor_city, region=lf.region(data.HUAIYIN))
        lf.lead_tip()
    assert _queries(supervisor_city, name) == before


# The page's own queries (session, user, slices, groups, the health table; the map's are
# another request); the figures' are counted apart: one headline for the year, one headlines
# call for the twelve months.
OWN_QUERIES = 20


@pytest.mark.parametrize("name", ["reports:dashboard", "reports:dashboard_data"])
def test_the_dashboard_reads_the_figures_twice_and_few_queries_of_its_own(
    name: str, supervisor_city: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    figure_queries: list[int] = []

    def counted(real: Any) -> Any:
        def call(*args: Any) -> Any:
            with CaptureQueriesContext(connection) as inside:
                result = real(*args)
            figure_queries.append(len(inside))
            return result

        return call

    monkeypatch.setattr(figures, "headline", counted(figures.headline))
    monkeypatch.setattr(figures, "headlines", counted(figures.headlines))
    client = _client(supervisor_city)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse(name)).status_code == 200
    assert len(figure_queries) == 2
    assert len(captured) - sum(figure_queries) <= OWN_QUERIES


def test_the_map_takes_a_bounded_number_of_queries(
    supervisor_city: User, django_assert_max_num_queries: Any
) -> None:
    client = _client(supervisor_city)
    with django_assert_max_num_queries(OWN_QUERIES):
        assert client.get(reverse("reports:dashboard_map")).status_code == 200
