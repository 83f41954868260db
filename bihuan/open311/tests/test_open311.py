"""Open311 GeoReport v2: field lists per the spec, JSON/XML parity, keys, errors, public fields."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.intake.models import Channel, PublicTip
from bihuan.intake.selectors import PublicStatus
from bihuan.intake.services import public_reply_add
from bihuan.leads.models import Lead
from bihuan.leads.selectors import leads_triaged_by
from bihuan.leads.services import lead_dismiss
from bihuan.leads.tests.factories import city_for_module
from bihuan.open311 import services
from bihuan.open311.models import ApiClient, ClientRequest
from bihuan.open311.xml import ITEM_TAGS

PHONE = "13812341234"
SECRET_STORY = "补习班老师张三在体育路3栋501室给初中生上数学课"

SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
ATTRIBUTE_FIELDS = {
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
}


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # The module's city is already there; the personas only look up.
    return {}


@pytest.fixture
def key(admin_system: User) -> str:
    return services.api_client_create(actor=admin_system, name="12345 热线")[1]


def _post(client: Client, fmt: str = "json", **data: str) -> Any:
    return client.post(f"/open311/v2/requests.{fmt}", data)


def _tip(client: Client, key: str, **extra: str) -> str:
    data = {
        "api_key": key,
        "service_code": "home_class",
        "address_string": "文昌社区体育路某小区3栋501室",
        "description": SECRET_STORY,
        "phone": PHONE,
        **extra,
    }
    response = _post(client, **data)
    assert response.status_code == 201, response.content
    return str(response.json()[0]["service_request_id"])


def _parse(content: bytes) -> ET.Element:
    # Our own server's output in a test, not untrusted input.
    return ET.fromstring(content)  # noqa: S314


def _from_xml(element: ET.Element) -> Any:
    """The XML document as the JSON structure it mirrors (all leaves as text)."""
    if element.tag in ITEM_TAGS:
        return [_from_xml(child) for child in element]
    if len(element):
        return {child.tag: _from_xml(child) for child in element}
    return element.text or ""


def _as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _both(client: Client, path: str, **query: str) -> tuple[Any, Any]:
    as_json = client.get(f"{path}.json", query)
    as_xml = client.get(f"{path}.xml", query)
    assert as_json.status_code == as_xml.status_code
    assert as_json["Content-Type"] == "application/json; charset=utf-8"
    assert as_xml["Content-Type"] == "text/xml; charset=utf-8"
    return as_json.json(), _parse(as_xml.content)


def test_discovery_has_every_required_field_in_both_formats(client: Client) -> None:
    data, root = _both(client, "/open311/v2/discovery")
    assert root.tag == "discovery"
    assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
    endpoint = data["endpoints"][0]
    assert set(endpoint) == {"specification", "url", "changeset", "type", "formats"}
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["url"].endswith("/open311/v2/")
    assert _from_xml(root) == _as_text(data)


def test_service_list_is_one_service_per_public_category_in_both_formats(client: Client) -> None:
    data, root = _both(client, "/open311/v2/services")
    assert root.tag == "services"
    assert all(set(s) == SERVICE_FIELDS for s in data)
    assert {s["service_code"] for s in data} >= {"home_class", "online_class", "other"}
    assert all(s["type"] == "realtime" and s["metadata"] is True for s in data)
    assert _from_xml(root) == _as_text(data)


def test_service_definition_lists_the_attributes_in_both_formats(client: Client) -> None:
    data, root = _both(client, "/open311/v2/services/home_class")
    assert root.tag == "service_definition"
    assert data["service_code"] == "home_class"
    assert {a["code"] for a in data["attributes"]} == {"place_name", "happened_on"}
    assert all(set(a) == ATTRIBUTE_FIELDS for a in data["attributes"])
    assert _from_xml(root) == _as_text(data)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_is_a_404_in_the_standard_error_format(client: Client, fmt: str) -> None:
    response = client.get(f"/open311/v2/services/nope.{fmt}")
    assert response.status_code == 404
    if fmt == "json":
        assert response.json()[0]["code"] == 404
        assert set(response.json()[0]) == {"code", "description"}
    else:
        root = _parse(response.content)
        assert root.tag == "errors"
        assert root.find("error/code").text == "404"  # type: ignore[union-attr]
        assert root.find("error/description").text  # type: ignore[union-attr]


def test_unknown_format_is_not_found(client: Client) -> None:
    assert client.get("/open311/v2/services.html").status_code == 404


@pytest.mark.parametrize("api_key", ["", "not-a-key", "revoked"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_without_a_valid_key_is_refused_and_writes_nothing(
    client: Client, admin_system: User, api_key: str, fmt: str
) -> None:
    if api_key == "revoked":
        made, api_key = services.api_client_create(actor=admin_system, name="old")
        services.api_client_revoke(actor=admin_system, client=made)
    before = (Lead.objects.count(), PublicTip.objects.count(), ClientRequest.objects.count())
    response = _post(
        client,
        fmt,
        api_key=api_key,
        service_code="home_class",
        address_string="体育路",
        description="x",
    )
    assert response.status_code == 403
    assert (
        Lead.objects.count(),
        PublicTip.objects.count(),
        ClientRequest.objects.count(),
    ) == before
    if fmt == "xml":
        assert _parse(response.content).find("error/code").text == "403"  # type: ignore[union-attr]
    else:
        assert response.json()[0]["code"] == 403


def test_posted_request_lands_in_the_bureaus_triage_queue(
    client: Client, key: str, supervisor_city: User
) -> None:
    code = _tip(client, key, **{"attribute[place_name]": "智慧树辅导", "lat": "", "long": ""})
    tip = PublicTip.objects.select_related("lead").get(tracking_code=code)
    assert tip.channel == Channel.OPEN311
    assert leads_triaged_by(supervisor_city).filter(pk=tip.lead_id).exists()
    assert {t.code for t in tip.lead.violation_types.all()} == {"B2"}
    assert tip.lead.place_name == "智慧树辅导"
    assert tip.phone == PHONE
    assert ClientRequest.objects.get(tracking_code=code).client.name == "12345 热线"


def test_post_reply_in_xml_has_the_spec_fields(client: Client, key: str) -> None:
    response = _post(
        client,
        "xml",
        api_key=key,
        service_code="online_class",
        lat="30.92",
        long="113.91",
        description="微信群收费上课",
    )
    assert response.status_code == 201, response.content.decode()
    root = _parse(response.content)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert {child.tag for child in request} == {
        "service_request_id",
        "service_notice",
        "account_id",
    }
    assert PublicTip.objects.filter(tracking_code=request.findtext("service_request_id")).exists()


def test_media_url_is_kept_as_text_and_never_fetched(client: Client, key: str) -> None:
    code = _tip(client, key, media_url="http://127.0.0.1:1/photo.jpg")
    lead = PublicTip.objects.get(tracking_code=code).lead
    assert "media_url: http://127.0.0.1:1/photo.jpg" in lead.description
    assert not lead.attachments.exists()


def test_an_anonymous_post_keeps_no_phone(client: Client, key: str) -> None:
    code = _tip(client, key, phone="")
    assert PublicTip.objects.get(tracking_code=code).phone == ""


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"address_string": "体育路"}, 400),  # no service_code
        ({"service_code": "nope", "address_string": "体育路"}, 404),
        ({"service_code": "home_class"}, 400),  # no location
        ({"service_code": "home_class", "lat": "30.9"}, 400),  # lat without long
        ({"service_code": "home_class", "lat": "north", "long": "113.9"}, 400),
        ({"service_code": "home_class", "address_string": "体育路", "phone": "12345"}, 400),
        ({"service_code": "home_class", "address_string": "x", "description": "长" * 4001}, 400),
        (
            {
                "service_code": "home_class",
                "address_string": "x",
                "attribute[happened_on]": "later",
            },
            400,
        ),
    ],
)
def test_bad_post_is_refused_with_its_status_and_writes_nothing(
    client: Client, key: str, data: dict[str, str], status: int
) -> None:
    data.setdefault("description", "有人上课")
    before = (Lead.objects.count(), PublicTip.objects.count(), ClientRequest.objects.count())
    response = _post(client, api_key=key, **data)
    assert response.status_code == status
    assert response.json()[0]["code"] == status
    assert (
        Lead.objects.count(),
        PublicTip.objects.count(),
        ClientRequest.objects.count(),
    ) == before


def test_posts_past_the_keys_window_are_refused(
    client: Client, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "POSTS_PER_WINDOW", 2)
    _tip(client, key)
    _tip(client, key)
    before = PublicTip.objects.count()
    response = _post(
        client, api_key=key, service_code="home_class", address_string="x", description="y"
    )
    assert response.status_code == 429
    assert PublicTip.objects.count() == before


def test_post_needs_no_csrf_token(key: str) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert _tip(strict, key)


def test_get_request_shows_only_the_public_view(
    client: Client, key: str, supervisor_city: User
) -> None:
    code = _tip(client, key)
    tip = PublicTip.objects.get(tracking_code=code)
    public_reply_add(actor=supervisor_city, lead=tip.lead, text="已收到，正在核查。")
    data, root = _both(client, f"/open311/v2/requests/{code}")
    assert root.tag == "service_requests"
    assert _from_xml(root) == _as_text(data)
    (row,) = data
    assert set(row) == REQUEST_FIELDS
    assert row["service_request_id"] == code
    assert row["status"] == "open"
    assert row["service_code"] == "home_class"
    assert row["description"] == "已收到，正在核查。"
    body = json.dumps(data, ensure_ascii=False) + "".join(root.itertext())
    for private in (SECRET_STORY, PHONE, "体育路", supervisor_city.username):
        assert private not in body
    assert row["requested_datetime"].endswith("+08:00")


def test_unknown_request_is_a_404(client: Client) -> None:
    data, root = _both(client, "/open311/v2/requests/NOPE2345")
    assert data[0]["code"] == 404
    assert root.tag == "errors"


def test_token_is_the_service_request_id(client: Client, key: str) -> None:
    code = _tip(client, key)
    data, root = _both(client, f"/open311/v2/tokens/{code}")
    assert data == [{"service_request_id": code, "token": code}]
    assert _from_xml(root) == _as_text(data)


def test_request_list_by_ids_in_both_formats(client: Client, key: str) -> None:
    first, second = _tip(client, key), _tip(client, key, service_code="safety")
    data, root = _both(client, "/open311/v2/requests", service_request_id=f"{first},{second}")
    assert {r["service_request_id"] for r in data} == {first, second}
    assert all(set(r) == REQUEST_FIELDS for r in data)
    assert _from_xml(root) == _as_text(data)


def test_request_list_without_ids_or_key_reveals_nothing(client: Client, key: str) -> None:
    _tip(client, key)
    data, root = _both(client, "/open311/v2/requests")
    assert data == []
    assert list(root) == []


def test_request_list_with_a_key_shows_that_clients_requests_only(
    client: Client, key: str, admin_system: User
) -> None:
    other_key = services.api_client_create(actor=admin_system, name="省平台")[1]
    mine = _tip(client, key)
    safety = _tip(client, key, service_code="safety")
    _tip(client, other_key)
    data, _root = _both(client, "/open311/v2/requests", api_key=key)
    assert {r["service_request_id"] for r in data} == {mine, safety}
    filtered, _root = _both(
        client, "/open311/v2/requests", api_key=key, service_code="safety", status="open"
    )
    assert [r["service_request_id"] for r in filtered] == [safety]
    closed, _root = _both(client, "/open311/v2/requests", api_key=key, status="closed")
    assert closed == []


@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"},
        {"start_date": "yesterday"},
        {"status": "pending"},
        {"service_code": "nope"},
    ],
)
def test_bad_list_query_is_an_error(client: Client, key: str, query: dict[str, str]) -> None:
    response = client.get("/open311/v2/requests.json", {"api_key": key, **query})
    assert response.status_code in (400, 404)
    assert response.json()[0]["code"] == response.status_code


def test_request_list_query_count_does_not_grow_with_rows(
    client: Client, key: str, django_assert_max_num_queries: Any
) -> None:
    codes = ",".join(_tip(client, key) for _ in range(5))
    with django_assert_max_num_queries(4):
        response = client.get("/open311/v2/requests.json", {"service_request_id": codes})
    assert len(response.json()) == 5


# The key page: a system administrator's (DEPARTMENT_MANAGE), a 404 for everyone else.
PERSONAS = [
    "admin_security",
    "admin_audit",
    "supervisor_city",
    "coordinator_wenchang",
    "inspector_wenchang",
    "officer_market",
    "school_tiyulu",
    "area_guangchang",
]


def test_system_admin_creates_a_key_shown_once_and_audited(
    client: Client, admin_system: User, django_assert_max_num_queries: Any
) -> None:
    client.force_login(admin_system)
    response = client.post("/open311/clients/new/", {"name": "12345 热线"}, follow=True)
    made = ApiClient.objects.get(name="12345 热线")
    shown = response.context["new_key"]["key"]
    assert shown in response.content.decode()
    assert made.key_hash == services.key_digest(shown) and shown not in made.key_hash
    assert Event.objects.filter(verb="open311.client.created", object_id=str(made.pk)).exists()
    with django_assert_max_num_queries(8):
        again = client.get("/open311/clients/")
    assert shown not in again.content.decode()
    assert made.key_prefix in again.content.decode()


def test_system_admin_revokes_a_key_and_it_stops_working(
    client: Client, admin_system: User, key: str
) -> None:
    made = ApiClient.objects.get()
    client.force_login(admin_system)
    client.post(f"/open311/clients/{made.pk}/revoke/")
    made.refresh_from_db()
    assert not made.is_active and made.revoked_at is not None
    assert Event.objects.filter(verb="open311.client.revoked", object_id=str(made.pk)).exists()
    client.logout()
    response = _post(client, api_key=key, service_code="home_class", address_string="x")
    assert response.status_code == 403


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_system_admins_see_or_change_keys(
    client: Client, request: pytest.FixtureRequest, admin_system: User, persona: str
) -> None:
    made = services.api_client_create(actor=admin_system, name="省平台")[0]
    client.force_login(request.getfixturevalue(persona))
    events = Event.objects.count()
    assert client.get("/open311/clients/").status_code == 404
    assert client.post("/open311/clients/new/", {"name": "x"}).status_code == 404
    assert client.post(f"/open311/clients/{made.pk}/revoke/").status_code == 404
    made.refresh_from_db()
    assert made.is_active
    assert ApiClient.objects.count() == 1
    assert Event.objects.count() == events


def test_signed_out_visitor_is_sent_to_sign_in(client: Client) -> None:
    assert client.get("/open311/clients/").status_code == 302


def test_a_dismissed_tip_reads_closed_with_its_public_status_only(
    client: Client, key: str, supervisor_city: User
) -> None:
    code = _tip(client, key)
    lead = PublicTip.objects.get(tracking_code=code).lead
    lead_dismiss(actor=supervisor_city, lead=lead, reason="内部备注：举报人与机构有纠纷")
    (row,) = client.get(f"/open311/v2/requests/{code}.json").json()
    assert row["status"] == "closed"
    assert row["status_notes"] == str(PublicStatus.NOT_SUBSTANTIATED.label)
    assert "纠纷" not in json.dumps(row, ensure_ascii=False)
    listed = client.get("/open311/v2/requests.json", {"api_key": key, "status": "closed"}).json()
    assert [r["service_request_id"] for r in listed] == [code]


def test_a_code_in_lower_case_still_finds_its_request(client: Client, key: str) -> None:
    code = _tip(client, key)
    (row,) = client.get(f"/open311/v2/requests/{code.lower()}.json").json()
    assert row["service_request_id"] == code


def test_the_service_code_stays_what_the_sender_chose_after_triage(
    client: Client, key: str, supervisor_city: User
) -> None:
    from bihuan.leads.services import lead_accept
    from bihuan.leads.tests.factories import types

    code = _tip(client, key, service_code="other")
    tip = PublicTip.objects.get(tracking_code=code)
    assert tip.category == "other"
    # The bureau finds it is really a class in a flat: the parent's request keeps its service.
    lead_accept(actor=supervisor_city, lead=tip.lead, violation_types=types("B3"))
    (row,) = client.get(f"/open311/v2/requests/{code}.json").json()
    assert row["service_code"] == "other"
    listed = client.get(
        "/open311/v2/requests.json", {"api_key": key, "service_code": "other"}
    ).json()
    assert code in {r["service_request_id"] for r in listed}
    elsewhere = client.get(
        "/open311/v2/requests.json", {"api_key": key, "service_code": "home_class"}
    ).json()
    assert code not in {r["service_request_id"] for r in elsewhere}
