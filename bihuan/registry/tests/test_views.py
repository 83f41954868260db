"""The registry's pages: who sees which institution, who may change it, and what the list does.

Out of scope is a 404, never a 403; so is a page the user's roles may not use. Every refused
write is checked against the database before the request: nothing may change.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext
from openpyxl import load_workbook

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.demo.data import HUAIYIN, WENCHANG, XIAONAN
from bihuan.registry import services
from bihuan.registry.models import (
    Category,
    CourseOffering,
    Institution,
    MatchCandidate,
    MatchStatus,
    Source,
    Status,
)
from bihuan.territory.models import Region

XIAOCHANG = "420921"
PHONE = "10012345678"
MASKED = "100****5678"
CODE = "52420902100000032P"

PERSONAS = [
    "admin_system",
    "admin_security",
    "admin_audit",
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "coordinator_huaiyin",
    "inspector_wenchang",
    "officer_market",
    "school_tiyulu",
    "area_guangchang",
]
# Which of the three institutions (in 文昌, 槐荫, 孝昌县) each persona sees; None: no registry.
SEES: dict[str, set[str] | None] = {
    "admin_system": {"wenchang", "huaiyin", "xiaochang"},
    "admin_security": None,
    "admin_audit": None,
    "supervisor_city": {"wenchang", "huaiyin", "xiaochang"},
    "supervisor_xiaonan": {"wenchang", "huaiyin"},
    "coordinator_wenchang": {"wenchang"},
    "coordinator_huaiyin": {"huaiyin"},
    "inspector_wenchang": {"wenchang"},
    "officer_market": {"wenchang", "huaiyin", "xiaochang"},
    "school_tiyulu": {"wenchang"},
    "area_guangchang": {"wenchang", "huaiyin"},
}
MANAGERS = {"supervisor_city", "supervisor_xiaonan"}
SEES_PHONES = {
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "coordinator_huaiyin",
    "officer_market",
}
NAMES = {
    "wenchang": "文昌启航教育",
    "huaiyin": "槐荫书画艺术学校",
    "xiaochang": "孝昌飞扬体育俱乐部",
}
PLACES = {"wenchang": WENCHANG, "huaiyin": HUAIYIN, "xiaochang": XIAOCHANG}


def _create(name: str, region: str = WENCHANG, **fields: Any) -> Institution:
    values = {"source": Source.MANUAL, "contact_phone": PHONE} | fields
    return services.institution_create(
        actor=None, name=name, region=Region.objects.get(code=region), **values
    )


@pytest.fixture
def places(demo_city: dict[str, int]) -> dict[str, Institution]:
    return {key: _create(NAMES[key], PLACES[key]) for key in NAMES}


def _login(client: Client, request: pytest.FixtureRequest, persona: str) -> User:
    user: User = request.getfixturevalue(persona)
    client.force_login(user)
    return user


def _state() -> tuple[Any, ...]:
    return (
        list(Institution.objects.order_by("pk").values()),
        list(CourseOffering.objects.order_by("pk").values()),
        list(MatchCandidate.objects.order_by("pk").values()),
        Event.objects.count(),
    )


def _xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


# The read matrix: persona × list, export, detail in and out of scope.


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_shows_exactly_the_institutions_in_scope(
    client: Client, request: pytest.FixtureRequest, places: dict[str, Institution], persona: str
) -> None:
    _login(client, request, persona)
    response = client.get("/registry/institutions/")
    seen = SEES[persona]
    if seen is None:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    shown = {key for key, name in NAMES.items() if name in response.content.decode()}
    assert shown == seen


@pytest.mark.parametrize("persona", PERSONAS)
def test_export_holds_exactly_the_institutions_in_scope(
    client: Client, request: pytest.FixtureRequest, places: dict[str, Institution], persona: str
) -> None:
    _login(client, request, persona)
    response = client.get("/registry/institutions/?format=xlsx")
    seen = SEES[persona]
    if seen is None:
        assert response.status_code == 404
        return
    rows = _xlsx_rows(response.content)
    assert {row[0] for row in rows[1:]} == {NAMES[k] for k in seen}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("place", list(NAMES))
def test_detail_is_404_outside_the_scope(
    client: Client,
    request: pytest.FixtureRequest,
    places: dict[str, Institution],
    persona: str,
    place: str,
) -> None:
    _login(client, request, persona)
    response = client.get(f"/registry/institutions/{places[place].pk}/")
    seen = SEES[persona] or set()
    assert response.status_code == (200 if place in seen else 404)


def test_unknown_institution_is_404(client: Client, supervisor_city: User) -> None:
    client.force_login(supervisor_city)
    assert client.get("/registry/institutions/999999/").status_code == 404


def test_anonymous_visitor_is_sent_to_login(client: Client, demo_city: dict[str, int]) -> None:
    response = client.get("/registry/institutions/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# Phones are masked for those who do not need them.


@pytest.mark.parametrize("persona", [p for p in PERSONAS if SEES[p]])
def test_list_detail_and_export_mask_the_phone_unless_allowed(
    client: Client, request: pytest.FixtureRequest, places: dict[str, Institution], persona: str
) -> None:
    _login(client, request, persona)
    shown = PHONE if persona in SEES_PHONES else MASKED
    hidden = MASKED if persona in SEES_PHONES else PHONE
    visible = places[sorted(SEES[persona] or ())[0]]
    for url in ("/registry/institutions/", f"/registry/institutions/{visible.pk}/"):
        content = client.get(url).content.decode()
        assert shown in content and hidden not in content
    rows = _xlsx_rows(client.get("/registry/institutions/?format=xlsx").content)
    phones = {row[8] for row in rows[1:]}
    assert phones == {shown}


# The write matrix: only registry managers, only in their scope; refusals change nothing.


@dataclass(frozen=True)
class Write:
    name: str
    path: str  # {pk} is the institution's id, {pair} the pending pair's
    data: dict[str, str]


WRITES = [
    Write(
        "create",
        "/registry/institutions/new/",
        {"name": "新登记机构", "category": "arts", "region_code": WENCHANG, "datum": "wgs84"},
    ),
    Write(
        "edit",
        "/registry/institutions/{pk}/edit/",
        {"name": "改名机构", "category": "arts"},
    ),
    Write("status", "/registry/institutions/{pk}/status/", {"status": "suspended", "reason": "查"}),
    Write(
        "blacklist",
        "/registry/institutions/{pk}/blacklist/",
        {"blacklisted": "on", "reason": "无证办学"},
    ),
    Write(
        "course", "/registry/institutions/{pk}/courses/", {"name": "初中数学", "is_subject": "on"}
    ),
    Write("review", "/registry/review/{pair}/", {"same": "0"}),
]


@pytest.fixture
def pair(places: dict[str, Institution]) -> MatchCandidate:
    twin = _create("文昌啓航教育")
    return MatchCandidate.objects.create(
        institution=places["wenchang"], candidate=twin, score=85.0, reasons={"name": 85.0}
    )


def _url(write: Write, institution: Institution, pair: MatchCandidate) -> str:
    return write.path.format(pk=institution.pk, pair=pair.pk)


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
@pytest.mark.parametrize("persona", [p for p in PERSONAS if p not in MANAGERS])
def test_refused_write_is_404_and_changes_nothing(
    client: Client,
    request: pytest.FixtureRequest,
    places: dict[str, Institution],
    pair: MatchCandidate,
    persona: str,
    write: Write,
) -> None:
    _login(client, request, persona)
    before = _state()
    response = client.post(_url(write, places["wenchang"], pair), write.data)
    assert response.status_code == 404
    assert _state() == before


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
@pytest.mark.parametrize("persona", sorted(MANAGERS))
def test_allowed_write_changes_the_database(
    client: Client,
    request: pytest.FixtureRequest,
    places: dict[str, Institution],
    pair: MatchCandidate,
    persona: str,
    write: Write,
) -> None:
    # The control of the test above: the same request from a manager does write.
    _login(client, request, persona)
    before = _state()
    response = client.post(_url(write, places["wenchang"], pair), write.data)
    assert response.status_code == 302
    assert _state() != before


@pytest.mark.parametrize("write", [w for w in WRITES if "{pk}" in w.path], ids=lambda w: w.name)
def test_manager_writing_outside_the_scope_gets_404_and_changes_nothing(
    client: Client,
    supervisor_xiaonan: User,
    places: dict[str, Institution],
    pair: MatchCandidate,
    write: Write,
) -> None:
    client.force_login(supervisor_xiaonan)
    before = _state()
    response = client.post(_url(write, places["xiaochang"], pair), write.data)
    assert response.status_code == 404
    assert _state() == before


def test_manager_cannot_register_outside_the_scope(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    client.force_login(supervisor_xiaonan)
    before = _state()
    data = WRITES[0].data | {"region_code": XIAOCHANG}
    response = client.post("/registry/institutions/new/", data)
    assert response.status_code == 200
    assert response.context["form"].errors["region_code"]
    assert _state() == before


def test_review_pair_outside_the_scope_is_404(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    twin = _create("孝昌飛揚體育俱樂部", XIAOCHANG)
    outside = MatchCandidate.objects.create(
        institution=places["xiaochang"], candidate=twin, score=85.0
    )
    client.force_login(supervisor_xiaonan)
    before = _state()
    assert client.post(f"/registry/review/{outside.pk}/", {"same": "1"}).status_code == 404
    assert _state() == before


@pytest.mark.parametrize("path", ["/registry/institutions/new/", "/registry/review/"])
def test_manager_pages_are_404_for_readers(
    client: Client, coordinator_wenchang: User, path: str
) -> None:
    client.force_login(coordinator_wenchang)
    assert client.get(path).status_code == 404


def test_merged_record_cannot_be_edited(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    twin = _create("文昌啓航教育")
    Institution.objects.filter(pk=twin.pk).update(merged_into=places["wenchang"])
    client.force_login(supervisor_xiaonan)
    assert client.get(f"/registry/institutions/{twin.pk}/edit/").status_code == 404
    assert client.get(f"/registry/institutions/{twin.pk}/").status_code == 200


# The list: filters, search, sorting, paging, htmx, export, query count.


def _listed(client: Client, query: str = "") -> list[str]:
    response = client.get(f"/registry/institutions/?{query}")
    assert response.status_code == 200
    return [i.name for i in response.context["page"]]


@pytest.fixture
def city(client: Client, supervisor_city: User, places: dict[str, Institution]) -> Client:
    client.force_login(supervisor_city)
    return client


def test_list_filters_by_region_subtree(city: Client) -> None:
    assert set(_listed(city, f"region={XIAONAN}")) == {NAMES["wenchang"], NAMES["huaiyin"]}
    assert _listed(city, f"region={HUAIYIN}") == [NAMES["huaiyin"]]


def test_region_outside_the_scope_lists_nothing(
    client: Client, coordinator_wenchang: User, places: dict[str, Institution]
) -> None:
    client.force_login(coordinator_wenchang)
    assert _listed(client, f"region={HUAIYIN}") == []


def test_list_filters_by_area(city: Client, places: dict[str, Institution]) -> None:
    area = places["wenchang"].area
    assert area is not None
    assert set(_listed(city, f"area={area.pk}")) == {NAMES["wenchang"], NAMES["huaiyin"]}


def test_list_filters_by_category_status_and_blacklist(
    city: Client, places: dict[str, Institution]
) -> None:
    services.institution_update(actor=None, institution=places["huaiyin"], category=Category.ARTS)
    services.institution_set_status(
        actor=None, institution=places["xiaochang"], status=Status.SUSPENDED
    )
    services.institution_set_blacklist(
        actor=None, institution=places["wenchang"], blacklisted=True, reason="无证"
    )
    assert _listed(city, "category=arts") == [NAMES["huaiyin"]]
    assert _listed(city, "status=suspended") == [NAMES["xiaochang"]]
    assert _listed(city, "blacklisted=1") == [NAMES["wenchang"]]
    assert NAMES["wenchang"] not in _listed(city, "blacklisted=0")


def test_unusable_filter_values_are_ignored(city: Client) -> None:
    assert len(_listed(city, "status=vanished&area=x&region=12&sort=evil&blacklisted=2")) == 3


def test_list_searches_traditional_input_and_initials(city: Client) -> None:
    assert _listed(city, "q=槐蔭書畫") == [NAMES["huaiyin"]]
    assert _listed(city, "q=xcfy") == [NAMES["xiaochang"]]


def test_list_sorts_by_name_newest_or_status(city: Client, places: dict[str, Institution]) -> None:
    newest = _listed(city, "sort=-created")
    assert newest == [NAMES["xiaochang"], NAMES["huaiyin"], NAMES["wenchang"]]
    services.institution_set_status(
        actor=None, institution=places["wenchang"], status=Status.CLOSED
    )
    assert _listed(city, "sort=status")[0] == NAMES["wenchang"]


def test_list_is_paged_by_fifty(city: Client) -> None:
    for i in range(52):
        _create(f"分页测试机构{i:02d}", contact_phone="")
    response = city.get("/registry/institutions/?q=分页测试")
    assert len(response.context["page"]) == 50
    assert "page=2" in response.content.decode()
    assert len(city.get("/registry/institutions/?q=分页测试&page=2").context["page"]) == 2


def test_htmx_request_gets_only_the_results(city: Client) -> None:
    response = city.get("/registry/institutions/?q=槐荫", headers={"HX-Request": "true"})
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="results">')
    assert "<html" not in content and NAMES["huaiyin"] in content


def test_export_keeps_the_filters_and_neutralises_formulas(city: Client) -> None:
    _create('=HYPERLINK("http://example.invalid","x")', contact_phone="")
    rows = _xlsx_rows(city.get("/registry/institutions/?format=xlsx&q=hyperlink").content)
    assert len(rows) == 2
    assert rows[1][0] == '\'=HYPERLINK("http://example.invalid","x")'


def _list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/registry/institutions/").status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_the_rows(city: Client) -> None:
    few = _list_queries(city)
    for i in range(20):
        _create(f"计数机构{i:02d}", region=HUAIYIN if i % 2 else WENCHANG)
    assert _list_queries(city) == few
    assert few <= 12


def test_htmx_list_query_count_is_small(city: Client, django_assert_max_num_queries: Any) -> None:
    with django_assert_max_num_queries(8):
        city.get("/registry/institutions/?q=启航", headers={"HX-Request": "true"})


# The detail page and the forms.


def test_detail_shows_courses_merged_records_and_history(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    from bihuan.registry.merge import institutions_merge

    wenchang = places["wenchang"]
    twin = _create("文昌啓航教育（总校）")
    services.course_add(actor=None, institution=twin, name="初中数学", is_subject=True)
    institutions_merge(actor=supervisor_xiaonan, survivor=wenchang, duplicate=twin)
    client.force_login(supervisor_xiaonan)
    response = client.get(f"/registry/institutions/{wenchang.pk}/")
    content = response.content.decode()
    assert "初中数学" in content
    assert "文昌啓航教育（总校）" in content
    verbs = [entry.event.verb for entry in response.context["history"]]
    assert verbs[:2] == ["institution.merged_into", "institution.merged"]
    assert "institution.course_added" in verbs


def test_merged_record_page_points_to_the_survivor(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    twin = _create("文昌啓航教育")
    Institution.objects.filter(pk=twin.pk).update(merged_into=places["wenchang"])
    client.force_login(supervisor_xiaonan)
    content = client.get(f"/registry/institutions/{twin.pk}/").content.decode()
    assert f'href="/registry/institutions/{places["wenchang"].pk}/"' in content
    assert f"/registry/institutions/{twin.pk}/edit/" not in content


def test_create_form_registers_and_places_the_institution(
    client: Client, supervisor_xiaonan: User, demo_city: dict[str, int]
) -> None:
    client.force_login(supervisor_xiaonan)
    response = client.post(
        "/registry/institutions/new/",
        {
            "name": "新华舞蹈培训学校",
            "category": "arts",
            "region_code": XIAONAN,
            "address": "孝南区槐荫社区北京路1号",
            "credit_code": CODE.lower(),
            "latitude": "30.93",
            "longitude": "113.92",
            "datum": "gcj02",
        },
    )
    institution = Institution.objects.get(name="新华舞蹈培训学校")
    assert response["Location"] == f"/registry/institutions/{institution.pk}/"
    assert institution.community is not None and institution.community.code == HUAIYIN
    assert institution.credit_code == CODE
    assert institution.source == Source.MANUAL
    assert institution.source_datum == "gcj02"


def test_create_form_shows_the_services_refusal_on_the_field(
    client: Client, supervisor_xiaonan: User, demo_city: dict[str, int]
) -> None:
    client.force_login(supervisor_xiaonan)
    before = _state()
    response = client.post(
        "/registry/institutions/new/",
        {
            "name": "x",
            "category": "arts",
            "region_code": WENCHANG,
            "credit_code": CODE[:-1] + "Q",
            "datum": "wgs84",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["credit_code"]
    assert _state() == before


def test_edit_form_is_filled_with_the_current_values(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    client.force_login(supervisor_xiaonan)
    response = client.get(f"/registry/institutions/{places['wenchang'].pk}/edit/")
    assert response.context["form"]["name"].value() == NAMES["wenchang"]


def test_blacklisting_without_a_reason_is_refused_with_a_message(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    client.force_login(supervisor_xiaonan)
    before = _state()
    response = client.post(
        f"/registry/institutions/{places['wenchang'].pk}/blacklist/",
        {"blacklisted": "on", "reason": ""},
        follow=True,
    )
    assert gettext("Say why the institution is blacklisted.") in response.content.decode()
    assert _state() == before


def test_refused_status_move_is_explained(
    client: Client, supervisor_xiaonan: User, places: dict[str, Institution]
) -> None:
    client.force_login(supervisor_xiaonan)
    before = _state()
    response = client.post(
        f"/registry/institutions/{places['wenchang'].pk}/status/",
        {"status": "pending"},
        follow=True,
    )
    assert response.status_code == 200
    assert list(response.context["messages"])
    assert _state() == before


def test_review_page_lists_the_pending_pair_and_merges_on_decision(
    client: Client, supervisor_xiaonan: User, pair: MatchCandidate
) -> None:
    client.force_login(supervisor_xiaonan)
    content = client.get("/registry/review/").content.decode()
    assert "文昌啓航教育" in content and f'action="/registry/review/{pair.pk}/"' in content
    response = client.post(f"/registry/review/{pair.pk}/", {"same": "1"})
    assert response["Location"] == "/registry/review/"
    pair.refresh_from_db()
    assert pair.status == MatchStatus.CONFIRMED
    assert "文昌啓航教育" not in client.get("/registry/review/").content.decode()
