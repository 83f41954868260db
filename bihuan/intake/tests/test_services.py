"""Tips become leads in the bureau's triage queue; limits, anonymity, public status and replies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from bihuan.accounts.models import User
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo import data
from bihuan.intake import services
from bihuan.intake.categories import CATEGORIES, category
from bihuan.intake.models import PublicReply, PublicTip
from bihuan.intake.selectors import PublicStatus, public_status, public_view
from bihuan.leads import services as lead_services
from bihuan.leads.models import Attachment, Lead, ViolationType
from bihuan.leads.selectors import leads_triaged_by
from bihuan.leads.tests import factories as f
from bihuan.leads.workflow import ClosureReason, LeadSource, LeadStatus
from bihuan.registry.models import Boundary
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    return {}


def _tip(**overrides: Any) -> PublicTip:
    fields: dict[str, Any] = {
        "category": "home_class",
        "description": "楼上每周六有十几个孩子上数学课。",
        "place_name": "某小区3栋",
        "address": "孝南区文昌社区体育路8号",
        "phone": "13812341234",
        "is_anonymous": False,
        "client_ip": "203.0.113.7",
    }
    fields.update(overrides)
    return services.tip_create(**fields)


def test_every_category_maps_to_seeded_active_types_except_other() -> None:
    for cat in CATEGORIES:
        found = set(cat.violation_types().values_list("code", flat=True))
        assert found == set(cat.violation_codes), cat.code
    assert category("other").violation_codes == ()
    assert set(category("prepaid_refund").violation_codes) == {"D1", "D7"}
    with pytest.raises(KeyError):
        category("nope")


def test_tip_becomes_new_tip_lead_in_the_bureau_triage_queue_with_types(
    supervisor_city: User,
) -> None:
    tip = _tip()
    lead = tip.lead
    assert lead.source == LeadSource.TIP and lead.status == LeadStatus.NEW
    assert set(lead.violation_types.values_list("code", flat=True)) == {"B2"}
    assert leads_triaged_by(supervisor_city).filter(pk=lead.pk).exists()
    assert lead.reporter_phone == "13812341234"
    assert len(tip.tracking_code) == 12
    assert set(tip.tracking_code) <= set(services.CODE_ALPHABET)
    assert tip.ip_hash and "203.0.113.7" not in tip.ip_hash


def test_tip_is_placed_in_the_community_named_in_the_address() -> None:
    assert _tip().lead.region.code == data.WENCHANG


def test_tip_without_a_known_place_goes_to_the_city() -> None:
    lead = _tip(address="某路某号", place_name="某机构").lead
    assert lead.region.code == data.XIAOGAN


def test_tip_is_placed_by_the_pin_inside_a_community_outline() -> None:
    wenchang = f.region(data.WENCHANG)
    ring = [[113.9, 30.9], [114.0, 30.9], [114.0, 31.0], [113.9, 31.0], [113.9, 30.9]]
    Boundary.objects.create(
        region=wenchang,
        geometry={"type": "Polygon", "coordinates": [ring]},
        min_lat=30.9,
        max_lat=31.0,
        min_lng=113.9,
        max_lng=114.0,
    )
    lead = _tip(address="", place_name="酒店1208房", latitude="30.95", longitude="113.95").lead
    assert lead.region == wenchang
    assert str(lead.latitude) == "30.950000"


def test_other_category_makes_a_lead_without_types() -> None:
    assert _tip(category="other").lead.violation_types.count() == 0


def test_anonymity_clears_the_phone_everywhere() -> None:
    tip = _tip(is_anonymous=True, phone="13812341234")
    assert tip.phone == "" and tip.lead.reporter_phone == "" and tip.lead.is_anonymous
    assert public_view(tip).masked_phone == ""


def test_phone_is_normalised_and_masked_for_the_public() -> None:
    tip = _tip(phone="+86 138-1234-1234")
    assert tip.phone == "13812341234"
    assert public_view(tip).masked_phone == "138****1234"


@pytest.mark.parametrize("phone", ["12812341234", "1381234123", "abc", "023-12345678"])
def test_bad_phone_changes_nothing(phone: str) -> None:
    before = Lead.objects.count()
    with pytest.raises(ServiceError) as error:
        _tip(phone=phone)
    assert error.value.field == "phone"
    assert Lead.objects.count() == before and not PublicTip.objects.exists()


def test_named_tip_needs_a_phone() -> None:
    with pytest.raises(ServiceError):
        _tip(phone="")


def test_unknown_category_and_future_date_are_refused() -> None:
    with pytest.raises(ServiceError):
        _tip(category="nope")
    with pytest.raises(ServiceError):
        _tip(happened_on=timezone.localdate() + timedelta(days=1))
    assert not PublicTip.objects.exists()


def test_date_is_kept_in_the_description() -> None:
    day = timezone.localdate() - timedelta(days=2)
    assert day.isoformat() in _tip(happened_on=day).lead.description


def test_gbk_range_text_is_kept_as_written() -> None:
    text = "孩子说在“龍騰”培训班上课，收费￥12800，一次交一年。㐀䶵"
    assert _tip(description=text).lead.description == text


def test_photo_is_attached_and_a_fake_or_oversized_one_changes_nothing(settings: Any) -> None:
    tip = _tip(files=[f.upload()])
    assert Attachment.objects.filter(lead=tip.lead).count() == 1
    before = Lead.objects.count()
    with pytest.raises(ServiceError):
        _tip(files=[f.upload(b"GIF89a" + b"\x00" * 64, "x.jpg")])
    settings.EVIDENCE_MAX_BYTES = 1024
    with pytest.raises(ServiceError):
        _tip(files=[f.upload(f.JPEG + b"\x00" * 2048)])
    assert Lead.objects.count() == before
    assert PublicTip.objects.count() == 1


def test_same_form_token_makes_one_tip() -> None:
    first = _tip(form_token="tok-1")
    second = _tip(form_token="tok-1")
    assert first.pk == second.pk and PublicTip.objects.count() == 1


def test_captcha_is_needed_after_three_tips_an_hour_from_one_address() -> None:
    assert not services.captcha_needed(client_ip="203.0.113.7")
    for n in range(3):
        _tip(phone=f"1391234000{n}")
    assert services.captcha_needed(client_ip="203.0.113.7")
    assert not services.captcha_needed(client_ip="198.51.100.1")


def test_captcha_is_needed_after_three_tips_an_hour_from_one_phone() -> None:
    for n in range(3):
        _tip(client_ip=f"198.51.100.{n}")
    assert services.captcha_needed(client_ip="192.0.2.1", phone="13812341234")


def test_the_phone_limit_counts_a_number_however_it_is_typed() -> None:
    for n in range(3):
        _tip(client_ip=f"198.51.100.{n}", phone="+86 138-1234-1234")
    assert services.captcha_needed(client_ip="192.0.2.1", phone="138 1234 1234")
    assert not services.captcha_needed(client_ip="192.0.2.1", phone="13812341235")


def test_the_tip_and_its_lead_store_the_phone_encrypted() -> None:
    tip = _tip(phone="13812341234")
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM intake_publictip WHERE id = %s", [tip.pk])
        (tip_phone,) = cursor.fetchone()
        cursor.execute("SELECT reporter_phone FROM leads_lead WHERE id = %s", [tip.lead_id])
        (lead_phone,) = cursor.fetchone()
    assert tip_phone and lead_phone
    assert "13812341234" not in tip_phone + lead_phone
    assert PublicTip.objects.get(pk=tip.pk).phone == "13812341234"


def test_hard_limit_per_address_per_day() -> None:
    for n in range(services.HARD_LIMIT_PER_DAY):
        _tip(phone=f"1391234{n:04d}")
    with pytest.raises(ServiceError) as error:
        _tip(phone="13700000000")
    assert "12345" in error.value.message
    assert PublicTip.objects.count() == services.HARD_LIMIT_PER_DAY
    _tip(client_ip="198.51.100.9", phone="13700000000")


def test_hard_limit_per_phone_per_day_and_yesterday_does_not_count() -> None:
    for n in range(services.HARD_LIMIT_PER_DAY):
        _tip(client_ip=f"198.51.100.{n}")
    with pytest.raises(ServiceError):
        _tip(client_ip="192.0.2.50")
    PublicTip.objects.update(created_at=timezone.now() - timedelta(hours=25))
    _tip(client_ip="192.0.2.50")


def test_open311_channel_is_not_held_to_the_web_limits() -> None:
    for n in range(services.HARD_LIMIT_PER_DAY + 1):
        _tip(channel="open311", phone=f"1391234{n:04d}")
    assert PublicTip.objects.filter(channel="open311").count() == services.HARD_LIMIT_PER_DAY + 1


def test_public_status_maps_the_lead_statuses(supervisor_city: User) -> None:
    lead = _tip().lead
    assert public_status(lead) == PublicStatus.RECEIVED
    lead = lead_services.lead_accept(
        actor=supervisor_city,
        lead=lead,
        violation_types=list(ViolationType.objects.filter(code="B2")),
    )
    assert public_status(lead) == PublicStatus.IN_PROGRESS
    for status, reason, expected in [
        (LeadStatus.DISPATCHED, "", PublicStatus.IN_PROGRESS),
        (LeadStatus.REPLIED, "", PublicStatus.IN_PROGRESS),
        (LeadStatus.VERIFIED, "", PublicStatus.IN_PROGRESS),
        (LeadStatus.CLOSED, ClosureReason.RECTIFIED, PublicStatus.HANDLED),
        (LeadStatus.CLOSED, ClosureReason.PENALISED, PublicStatus.HANDLED),
        (LeadStatus.CLOSED, ClosureReason.NOT_SUBSTANTIATED, PublicStatus.NOT_SUBSTANTIATED),
        (LeadStatus.DISMISSED, "", PublicStatus.NOT_SUBSTANTIATED),
    ]:
        assert public_status(Lead(status=status, closure_reason=reason)) == expected


def test_merged_tip_follows_the_surviving_lead(supervisor_city: User) -> None:
    survivor = f.lead_accepted(supervisor_city, codes=("B2",))
    lead = _tip().lead
    lead = lead_services.lead_merge(actor=supervisor_city, lead=lead, into=survivor)
    assert lead.status == LeadStatus.MERGED
    assert public_status(lead) == PublicStatus.IN_PROGRESS


def test_dismissed_tip_reads_not_substantiated(supervisor_city: User) -> None:
    lead = lead_services.lead_dismiss(actor=supervisor_city, lead=_tip().lead, reason="查无此事")
    view = public_view(PublicTip.objects.get(lead=lead))
    assert view.status == PublicStatus.NOT_SUBSTANTIATED and view.closed_at is not None


def test_bureau_reply_appears_in_the_public_view(supervisor_city: User) -> None:
    tip = _tip()
    services.public_reply_add(actor=supervisor_city, lead=tip.lead, text="已转交区教育局核查。")
    assert [text for _at, text in public_view(tip).replies] == ["已转交区教育局核查。"]


@pytest.mark.parametrize(
    "persona",
    ["officer_education_xiaonan", "coordinator_wenchang", "school_tiyulu", "admin_system"],
)
def test_only_the_bureau_may_reply(persona: str, request: pytest.FixtureRequest) -> None:
    tip = _tip()
    with pytest.raises(NotAllowed):
        services.public_reply_add(actor=request.getfixturevalue(persona), lead=tip.lead, text="x")
    assert not PublicReply.objects.exists()


def test_a_bureau_outside_the_place_may_not_reply(supervisor_xiaonan: User) -> None:
    # The tip sits at the city: a district supervisor is outside it.
    tip = _tip(address="某路某号", place_name="某机构")
    with pytest.raises(NotAllowed):
        services.public_reply_add(actor=supervisor_xiaonan, lead=tip.lead, text="x")


def test_no_reply_to_a_lead_that_is_not_a_tip(supervisor_city: User) -> None:
    lead = f.lead_tip()
    with pytest.raises(ServiceError):
        services.public_reply_add(actor=supervisor_city, lead=lead, text="x")


def test_empty_reply_is_refused(supervisor_city: User) -> None:
    with pytest.raises(ServiceError):
        services.public_reply_add(actor=supervisor_city, lead=_tip().lead, text="  ")


def test_lookup_is_refused_after_twenty_misses_an_hour() -> None:
    for _n in range(services.LOOKUP_MISSES_PER_HOUR):
        assert services.lookup_allowed("203.0.113.7")
        services.lookup_miss_record("203.0.113.7")
    assert not services.lookup_allowed("203.0.113.7")
    assert services.lookup_allowed("203.0.113.8")


def test_home_region_is_the_city() -> None:
    assert services.home_region() == Region.objects.get(code=data.XIAOGAN)
