"""The public tip pages and the bureau's reply page, through the test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from captcha.models import CaptchaStore
from django.test import Client
from django.urls import reverse

from bihuan.accounts.models import User
from bihuan.intake import services
from bihuan.intake.models import PublicReply, PublicTip
from bihuan.leads import services as lead_services
from bihuan.leads.models import Lead
from bihuan.leads.tests import factories as f

pytestmark = pytest.mark.django_db

NEW = reverse("intake:tip_new")


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    return {}


def _post(client: Client, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "category": "housekeeping_tutor",
        "description": "小区里有人以住家阿姨名义给孩子补数学。",
        "place_name": "某小区5栋",
        "address": "文昌社区体育路9号",
        "phone": "13912345678",
        "form_token": "t-" + str(PublicTip.objects.count()) + str(overrides.get("phone", "")),
    }
    fields.update(overrides)
    return client.post(NEW, fields, REMOTE_ADDR=fields.pop("ip", "203.0.113.5"))


def _solved() -> dict[str, str]:
    """A real captcha challenge and its answer, as a person would type it."""
    key = CaptchaStore.generate_key()
    return {"captcha_0": key, "captcha_1": CaptchaStore.objects.get(hashkey=key).response}


def test_tip_form_is_public_and_light(client: Client, django_assert_max_num_queries: Any) -> None:
    with django_assert_max_num_queries(4):
        response = client.get(NEW)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="website"' in body and 'name="form_token"' in body and "captcha" not in body
    assert "居民楼、酒店里上课" in body


def test_tip_is_sent_and_the_done_page_shows_the_code(client: Client) -> None:
    response = _post(client, photos=[f.upload()])
    assert response.status_code == 302 and response["Location"] == reverse("intake:tip_done")
    tip = PublicTip.objects.get()
    assert tip.lead.attachments.count() == 1
    done = client.get(reverse("intake:tip_done")).content.decode()
    assert tip.tracking_code in done
    assert reverse("intake:tip_status_code", args=[tip.tracking_code]) in done


def test_double_tap_makes_one_tip(client: Client) -> None:
    _post(client, form_token="same")
    _post(client, form_token="same")
    assert PublicTip.objects.count() == 1


def test_honeypot_refuses_silently_and_writes_nothing(client: Client) -> None:
    response = _post(client, website="http://spam.example")
    assert response.status_code == 400 and "12345" in response.content.decode()
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [{"phone": "12345"}, {"category": "nope"}, {"place_name": "", "address": ""}, {"phone": ""}],
)
def test_bad_input_changes_nothing(client: Client, overrides: dict[str, Any]) -> None:
    response = _post(client, **overrides)
    assert response.status_code == 400
    assert not Lead.objects.exists()


def test_fake_photo_changes_nothing(client: Client) -> None:
    response = _post(client, photos=[f.upload(b"MZ\x90\x00" * 20, "photo.jpg")])
    assert response.status_code == 400 and "JPEG" in response.content.decode()
    assert not Lead.objects.exists()


def test_anonymous_tip_needs_no_phone(client: Client) -> None:
    assert _post(client, phone="", is_anonymous="on").status_code == 302
    assert PublicTip.objects.get().phone == ""


def test_captcha_appears_after_three_tips_and_is_required(client: Client) -> None:
    for n in range(3):
        _post(client, phone=f"1391234567{n}")
    assert "captcha" in client.get(NEW, REMOTE_ADDR="203.0.113.5").content.decode()
    assert _post(client, phone="13700000001").status_code == 400
    wrong = {**_solved(), "captcha_1": "nope"}
    assert _post(client, phone="13700000001", **wrong).status_code == 400
    assert PublicTip.objects.count() == 3
    ok = _post(client, phone="13700000001", **_solved())
    assert ok.status_code == 302 and PublicTip.objects.count() == 4


def test_hard_limit_shows_a_clear_message(client: Client) -> None:
    for n in range(services.HARD_LIMIT_PER_DAY):
        assert _post(client, phone=f"139123456{n:02d}", **_solved()).status_code == 302
    response = _post(client, phone="13700000002", **_solved())
    assert response.status_code == 400 and "12345" in response.content.decode()
    assert PublicTip.objects.count() == services.HARD_LIMIT_PER_DAY


def test_status_page_shows_public_status_and_replies_only(
    client: Client, supervisor_city: User, django_assert_max_num_queries: Any
) -> None:
    _post(client)
    tip = PublicTip.objects.get()
    lead = lead_services.lead_accept(
        actor=supervisor_city, lead=tip.lead, violation_types=f.types("B3")
    )
    lead = lead_services.lead_dispatch(actor=supervisor_city, lead=lead)
    departments = list(lead.work_orders.values_list("department__name", flat=True))
    assert departments
    services.public_reply_add(actor=supervisor_city, lead=lead, text="我们已受理，正在核查。")
    url = reverse("intake:tip_status_code", args=[tip.tracking_code.lower()])
    with django_assert_max_num_queries(5):
        body = client.get(url).content.decode()
    assert 'id="tip-status">Being handled<' in body or 'id="tip-status">处理中<' in body
    assert "我们已受理，正在核查。" in body and "139****5678" in body
    for secret in ["13912345678", lead.reference, supervisor_city.username, *departments]:
        assert secret not in body
    assert "住家阿姨" not in body  # not even the description: the code may be shared


def test_status_form_redirects_to_the_code_page(client: Client) -> None:
    response = client.get(reverse("intake:tip_status"), {"code": "abcd-efgh 2345"})
    assert response["Location"] == reverse("intake:tip_status_code", args=["ABCDEFGH2345"])


def test_wrong_code_is_not_found_and_guessing_is_limited(client: Client) -> None:
    url = reverse("intake:tip_status_code", args=["ZZZZZZZZZZZZ"])
    for _n in range(services.LOOKUP_MISSES_PER_HOUR):
        assert client.get(url, REMOTE_ADDR="198.51.100.3").status_code == 404
    assert client.get(url, REMOTE_ADDR="198.51.100.3").status_code == 429


def test_replies_page_adds_a_reply(client: Client, supervisor_city: User) -> None:
    _post(client)
    lead = PublicTip.objects.get().lead
    client.force_login(supervisor_city)
    url = reverse("intake:tip_replies", args=[lead.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"text": "已派区教育局核查。"})
    assert response.status_code == 302
    assert PublicReply.objects.get().text == "已派区教育局核查。"


@pytest.mark.parametrize(
    "persona",
    [
        "supervisor_xiaonan",
        "officer_education_xiaonan",
        "coordinator_wenchang",
        "school_tiyulu",
        "admin_system",
        "area_guangchang",
    ],
)
def test_replies_page_is_404_outside_the_bureau_scope(
    client: Client, persona: str, request: pytest.FixtureRequest
) -> None:
    _post(client, address="某路某号", place_name="某机构")  # placed at the city
    lead = PublicTip.objects.get().lead
    client.force_login(request.getfixturevalue(persona))
    url = reverse("intake:tip_replies", args=[lead.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"text": "x"}).status_code == 404
    assert not PublicReply.objects.exists()


def test_replies_page_is_404_for_a_lead_that_is_not_a_tip(
    client: Client, supervisor_city: User
) -> None:
    client.force_login(supervisor_city)
    lead = f.lead_tip()
    assert client.get(reverse("intake:tip_replies", args=[lead.pk])).status_code == 404


def test_replies_page_needs_a_login(client: Client) -> None:
    _post(client)
    url = reverse("intake:tip_replies", args=[PublicTip.objects.get().lead_id])
    assert client.get(url).status_code == 302
