"""Writes to the registry: each service checks, saves, places and records one change."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.geo import wgs84_to_gcj02
from bihuan.demo.data import HUAIYIN, WENCHANG, XIAONAN
from bihuan.registry import services
from bihuan.registry.models import Category, CourseOffering, Datum, Institution, Source, Status
from bihuan.territory.models import Region

# A valid unified social credit code (GB 32100 check character) and one with a wrong check.
CODE = "52420902100000032P"
BAD_CODE = "52420902100000032Q"


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


def _events(institution: Institution) -> list[Event]:
    return list(
        Event.objects.filter(
            object_type="registry.institution", object_id=str(institution.pk)
        ).order_by("id")
    )


def _create(actor: Any = None, **fields: Any) -> Institution:
    values: dict[str, Any] = {
        "name": "孝南区启航教育培训学校",
        "region": _region(WENCHANG),
        "source": Source.MANUAL,
    }
    return services.institution_create(actor=actor, **(values | fields))


def _state() -> tuple[Any, ...]:
    return (
        Institution.objects.count(),
        CourseOffering.objects.count(),
        Event.objects.count(),
        list(Institution.objects.order_by("pk").values()),
    )


def test_create_normalises_the_name_and_records_an_event(supervisor_xiaonan: User) -> None:
    institution = _create(supervisor_xiaonan, name="  孝南區啓航教育培訓學校 ")
    assert institution.name == "孝南區啓航教育培訓學校"
    assert institution.name_normalized == "孝南区启航教育培训学校"
    assert institution.name_initials == "xnqqhjypxxx"
    assert institution.name_pinyin.startswith("xiaonanquqihang")
    [event] = _events(institution)
    assert event.verb == "institution.created"
    assert event.actor == supervisor_xiaonan
    assert event.after is not None and event.after["name"] == institution.name


def test_create_in_a_community_places_it_in_the_community_and_its_area(
    demo_city: dict[str, int],
) -> None:
    institution = _create()
    assert institution.community == _region(WENCHANG)
    assert institution.area is not None and institution.area.name == "广场学区片区"


def test_create_in_a_district_finds_the_community_named_in_the_address(
    demo_city: dict[str, int],
) -> None:
    institution = _create(region=_region(XIAONAN), address="孝南区槐荫社区北京路3号")
    assert institution.community == _region(HUAIYIN)
    assert institution.region == _region(HUAIYIN)


def test_create_in_a_district_without_a_known_community_stays_at_the_district(
    demo_city: dict[str, int],
) -> None:
    institution = _create(region=_region(XIAONAN), address="孝南区某路1号")
    assert institution.community is None
    assert institution.region == _region(XIAONAN)


def test_create_accepts_a_valid_credit_code_in_lower_case(demo_city: dict[str, int]) -> None:
    assert _create(credit_code=CODE.lower()).credit_code == CODE


@pytest.mark.parametrize("code", [BAD_CODE, "5242090210000003", "52420902I0000003ZP"])
def test_create_refuses_an_invalid_credit_code(demo_city: dict[str, int], code: str) -> None:
    before = _state()
    with pytest.raises(ServiceError) as refused:
        _create(credit_code=code)
    assert refused.value.field == "credit_code"
    assert _state() == before


def test_create_refuses_a_credit_code_already_registered(demo_city: dict[str, int]) -> None:
    _create(credit_code=CODE)
    before = _state()
    with pytest.raises(ServiceError):
        _create(name="另一家", credit_code=CODE)
    assert _state() == before


def test_create_refuses_a_nameless_institution(demo_city: dict[str, int]) -> None:
    with pytest.raises(ServiceError) as refused:
        _create(name="   ")
    assert refused.value.field == "name"


@pytest.mark.parametrize("phone", ["12345", "1" * 13])
def test_create_refuses_a_phone_of_the_wrong_length(demo_city: dict[str, int], phone: str) -> None:
    with pytest.raises(ServiceError) as refused:
        _create(contact_phone=phone)
    assert refused.value.field == "contact_phone"


def test_create_keeps_the_digits_of_a_phone(demo_city: dict[str, int]) -> None:
    assert _create(contact_phone="+86 100-1234-5678").contact_phone == "10012345678"


def test_create_converts_gcj02_coordinates_to_wgs84(demo_city: dict[str, int]) -> None:
    lat, lng = 30.9268, 113.9203
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    institution = _create(latitude=gcj_lat, longitude=gcj_lng, datum=Datum.GCJ02)
    assert institution.source_datum == Datum.GCJ02
    assert abs(float(institution.latitude or 0) - lat) < 1e-5
    assert abs(float(institution.longitude or 0) - lng) < 1e-5


def test_create_stores_wgs84_coordinates_as_given(demo_city: dict[str, int]) -> None:
    institution = _create(latitude="30.9268", longitude="113.9203", datum=Datum.WGS84)
    assert (institution.latitude, institution.longitude) == (
        Decimal("30.926800"),
        Decimal("113.920300"),
    )
    assert institution.source_datum == Datum.WGS84


@pytest.mark.parametrize(
    ("lat", "lng", "datum"),
    [("north", "113.9", Datum.WGS84), ("95", "113.9", Datum.WGS84), ("30.9", "113.9", "bd09")],
)
def test_create_refuses_unusable_coordinates(
    demo_city: dict[str, int], lat: str, lng: str, datum: str
) -> None:
    before = _state()
    with pytest.raises(ServiceError):
        _create(latitude=lat, longitude=lng, datum=datum)
    assert _state() == before


def test_create_by_someone_without_registry_manage_is_refused(
    coordinator_wenchang: User,
) -> None:
    before = _state()
    with pytest.raises(NotAllowed):
        _create(coordinator_wenchang)
    assert _state() == before


def test_an_inspector_may_report_a_field_find(inspector_wenchang: User) -> None:
    institution = _create(inspector_wenchang, source=Source.FIELD, status=Status.PENDING)
    assert institution.status == Status.PENDING
    assert _events(institution)[0].actor == inspector_wenchang


def test_update_changes_the_fields_and_records_before_and_after(
    supervisor_xiaonan: User,
) -> None:
    institution = _create()
    services.institution_update(
        actor=supervisor_xiaonan,
        institution=institution,
        name="孝南区启航学校",
        category=Category.ARTS,
    )
    institution.refresh_from_db()
    assert institution.name_normalized == "孝南区启航学校"
    event = _events(institution)[-1]
    assert event.verb == "institution.updated"
    assert event.before is not None and event.after is not None
    assert (event.before["name"], event.after["name"]) == (
        "孝南区启航教育培训学校",
        "孝南区启航学校",
    )
    assert (event.before["category"], event.after["category"]) == ("none", "arts")


def test_update_without_a_change_records_nothing(supervisor_xiaonan: User) -> None:
    institution = _create()
    before = _state()
    services.institution_update(
        actor=supervisor_xiaonan, institution=institution, name=institution.name
    )
    assert _state() == before


def test_update_refuses_fields_that_have_their_own_service(supervisor_xiaonan: User) -> None:
    institution = _create()
    before = _state()
    with pytest.raises(ServiceError):
        services.institution_update(
            actor=supervisor_xiaonan, institution=institution, status=Status.CLOSED
        )
    assert _state() == before


def test_update_of_a_merged_record_is_refused(supervisor_xiaonan: User) -> None:
    survivor, duplicate = _create(), _create(name="启航教育")
    Institution.objects.filter(pk=duplicate.pk).update(merged_into=survivor)
    with pytest.raises(ServiceError):
        services.institution_update(actor=supervisor_xiaonan, institution=duplicate, name="x")


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Status.PENDING, Status.REGISTERED),
        (Status.REGISTERED, Status.SUSPENDED),
        (Status.SUSPENDED, Status.REGISTERED),
        (Status.REGISTERED, Status.CLOSED),
        (Status.CLOSED, Status.REGISTERED),
    ],
)
def test_status_moves_along_the_allowed_moves(
    supervisor_xiaonan: User, start: str, target: str
) -> None:
    institution = _create(status=start)
    services.institution_set_status(
        actor=supervisor_xiaonan, institution=institution, status=target, reason="复查"
    )
    institution.refresh_from_db()
    assert institution.status == target
    event = _events(institution)[-1]
    assert event.verb == "institution.status_changed"
    assert event.after is not None and event.after["reason"] == "复查"


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Status.PENDING, Status.SUSPENDED),
        (Status.REGISTERED, Status.PENDING),
        (Status.REGISTERED, Status.REGISTERED),
        (Status.REGISTERED, "vanished"),
    ],
)
def test_status_refuses_other_moves(supervisor_xiaonan: User, start: str, target: str) -> None:
    institution = _create(status=start)
    before = _state()
    with pytest.raises(ServiceError):
        services.institution_set_status(
            actor=supervisor_xiaonan, institution=institution, status=target
        )
    assert _state() == before


def test_blacklisting_requires_a_reason(supervisor_xiaonan: User) -> None:
    institution = _create()
    before = _state()
    with pytest.raises(ServiceError) as refused:
        services.institution_set_blacklist(
            actor=supervisor_xiaonan, institution=institution, blacklisted=True, reason="  "
        )
    assert refused.value.field == "reason"
    assert _state() == before


def test_blacklisting_and_lifting_are_recorded(supervisor_xiaonan: User) -> None:
    institution = _create()
    services.institution_set_blacklist(
        actor=supervisor_xiaonan, institution=institution, blacklisted=True, reason="无证办学"
    )
    institution.refresh_from_db()
    assert (institution.is_blacklisted, institution.blacklist_reason) == (True, "无证办学")
    services.institution_set_blacklist(
        actor=supervisor_xiaonan, institution=institution, blacklisted=False
    )
    institution.refresh_from_db()
    assert (institution.is_blacklisted, institution.blacklist_reason) == (False, "")
    verbs = [e.verb for e in _events(institution)]
    assert verbs[-2:] == ["institution.blacklisted", "institution.unblacklisted"]


def test_course_is_recorded_with_its_ages(supervisor_xiaonan: User) -> None:
    institution = _create()
    course = services.course_add(
        actor=supervisor_xiaonan,
        institution=institution,
        name="初中数学",
        is_subject=True,
        age_min=12,
        age_max=15,
    )
    assert (course.age_min, course.age_max, course.is_subject) == (12, 15, True)
    event = _events(institution)[-1]
    assert event.verb == "institution.course_added"
    assert event.after == {"name": "初中数学", "is_subject": True, "age_min": 12, "age_max": 15}


def test_course_with_the_ages_reversed_is_refused(supervisor_xiaonan: User) -> None:
    institution = _create()
    before = _state()
    with pytest.raises(ServiceError) as refused:
        services.course_add(
            actor=supervisor_xiaonan,
            institution=institution,
            name="初中数学",
            is_subject=True,
            age_min=15,
            age_max=12,
        )
    assert refused.value.field == "age_min"
    assert _state() == before


@pytest.mark.parametrize("call", ["update", "status", "blacklist", "course"])
def test_writes_by_a_coordinator_are_refused(coordinator_wenchang: User, call: str) -> None:
    institution = _create()
    before = _state()
    calls = {
        "update": lambda: services.institution_update(
            actor=coordinator_wenchang, institution=institution, name="改名"
        ),
        "status": lambda: services.institution_set_status(
            actor=coordinator_wenchang, institution=institution, status=Status.CLOSED
        ),
        "blacklist": lambda: services.institution_set_blacklist(
            actor=coordinator_wenchang, institution=institution, blacklisted=True, reason="r"
        ),
        "course": lambda: services.course_add(
            actor=coordinator_wenchang, institution=institution, name="c", is_subject=False
        ),
    }
    with pytest.raises(NotAllowed):
        calls[call]()
    assert _state() == before


def test_no_service_deletes_a_record(supervisor_xiaonan: User) -> None:
    institution = _create()
    services.institution_set_status(
        actor=supervisor_xiaonan, institution=institution, status=Status.CLOSED
    )
    services.institution_set_blacklist(
        actor=supervisor_xiaonan, institution=institution, blacklisted=True, reason="r"
    )
    assert Institution.objects.filter(pk=institution.pk).exists()
    assert len(_events(institution)) == 3


@pytest.mark.parametrize(("lat", "lng"), [(Decimal("30.9"), None), (None, Decimal("113.9"))])
def test_the_database_refuses_half_a_position(
    demo_city: dict[str, int], lat: Decimal | None, lng: Decimal | None
) -> None:
    from django.db import IntegrityError, transaction

    institution = _create()
    institution.latitude, institution.longitude = lat, lng
    with pytest.raises(IntegrityError), transaction.atomic():
        institution.save(update_fields=["latitude", "longitude"])
