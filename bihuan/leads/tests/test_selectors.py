"""Who sees which lead, order and reporter; reading a list costs the same whatever its length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bihuan.accounts.models import User
from bihuan.demo import data
from bihuan.leads import selectors, services
from bihuan.leads.models import Lead
from bihuan.leads.tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    return {}


@pytest.fixture
def leads(school_tiyulu: User, supervisor_city: User) -> dict[str, Lead]:
    """One lead of each kind the rules tell apart, named for what it is."""
    return {
        # The school's own report, dispatched to the two Xiaonan departments.
        "story": services.lead_dispatch(
            actor=supervisor_city,
            lead=services.lead_accept(
                actor=supervisor_city,
                lead=f.lead_report(school_tiyulu),
                violation_types=f.types("B3"),
            ),
        ),
        # A tip in 文昌社区 (the area), dispatched to the district bureau only.
        "wenchang_tip": f.lead_dispatched(supervisor_city, ("C2",)),
        # A tip in 新华示范社区: Xiaonan, outside the area and 文昌社区.
        "xinhua_tip": f.lead_tip(region=f.region("420902002001")),
        # A tip in 孝昌县: the city's, not Xiaonan's.
        "xiaochang_tip": f.lead_tip(region=f.region("420921")),
    }


def _visible(user: User, leads: dict[str, Lead]) -> set[str]:
    pks = set(selectors.leads_visible_to(user).values_list("pk", flat=True))
    return {name for name, lead in leads.items() if lead.pk in pks}


EVERYTHING = {"story", "wenchang_tip", "xinhua_tip", "xiaochang_tip"}


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("supervisor_city", EVERYTHING),
        ("supervisor_xiaonan", {"story", "wenchang_tip", "xinhua_tip"}),
        ("coordinator_wenchang", {"story", "wenchang_tip"}),
        ("officer_education_xiaonan", {"story", "wenchang_tip"}),
        ("officer_market_xiaonan", {"story"}),
        ("officer_market", set()),
        ("officer_police", set()),
        ("school_tiyulu", {"story"}),
        ("area_guangchang", {"story", "wenchang_tip"}),
        ("inspector_wenchang", set()),
        ("admin_system", set()),
        ("admin_security", set()),
        ("admin_audit", set()),
    ],
)
def test_who_sees_which_lead(
    request: pytest.FixtureRequest, leads: dict[str, Lead], persona: str, expected: set[str]
) -> None:
    assert _visible(request.getfixturevalue(persona), leads) == expected


def test_officer_sees_a_lead_only_once_his_department_has_an_order(
    supervisor_city: User, officer_market_xiaonan: User
) -> None:
    lead = f.lead_accepted(supervisor_city)
    assert not selectors.leads_visible_to(officer_market_xiaonan).filter(pk=lead.pk).exists()
    services.lead_dispatch(actor=supervisor_city, lead=lead)
    assert selectors.leads_visible_to(officer_market_xiaonan).filter(pk=lead.pk).exists()


def test_reassigned_department_gains_the_lead(
    supervisor_city: User, officer_market_xiaonan: User, officer_police: User
) -> None:
    lead = f.lead_dispatched(supervisor_city)
    services.work_order_return(
        actor=officer_market_xiaonan,
        order=f.order_of(lead, f.MARKET_XIAONAN),
        proposed_department=f.department(f.POLICE_CITY),
        reason="涉嫌违法犯罪",
    )
    assert not selectors.leads_visible_to(officer_police).filter(pk=lead.pk).exists()
    services.work_order_reassign(
        actor=supervisor_city,
        order=f.order_of(lead, f.MARKET_XIAONAN),
        department=f.department(f.POLICE_CITY),
    )
    assert selectors.leads_visible_to(officer_police).filter(pk=lead.pk).exists()


def test_school_sentinel_does_not_see_a_tip_about_their_community(school_tiyulu: User) -> None:
    tip = f.lead_tip()
    assert not selectors.leads_visible_to(school_tiyulu).filter(pk=tip.pk).exists()


def test_anonymous_visitor_sees_nothing() -> None:
    from django.contrib.auth.models import AnonymousUser

    f.lead_tip()
    assert not selectors.leads_visible_to(AnonymousUser()).exists()


def test_deactivated_supervisor_sees_nothing(supervisor_city: User) -> None:
    f.lead_tip()
    User.objects.filter(pk=supervisor_city.pk).update(is_active=False)
    assert not selectors.leads_visible_to(User.objects.get(pk=supervisor_city.pk)).exists()


# ---------------------------------------------------------------------------- triage


def test_supervisor_triages_only_leads_of_their_place(supervisor_xiaonan: User) -> None:
    inside, outside = f.lead_tip(), f.lead_tip(region=f.region("420921"))
    assert selectors.may_triage(supervisor_xiaonan, inside)
    assert not selectors.may_triage(supervisor_xiaonan, outside)


@pytest.mark.parametrize(
    "persona",
    ["coordinator_wenchang", "officer_education_xiaonan", "school_tiyulu", "admin_system"],
)
def test_only_supervisors_triage(request: pytest.FixtureRequest, persona: str) -> None:
    lead = f.lead_tip()
    assert not selectors.may_triage(request.getfixturevalue(persona), lead)


# ---------------------------------------------------------------------------- reporter


def test_bureau_sees_who_reported(supervisor_city: User) -> None:
    assert selectors.may_see_reporter(supervisor_city, f.lead_tip())


def test_nobody_sees_an_anonymous_reporter(supervisor_city: User) -> None:
    assert not selectors.may_see_reporter(supervisor_city, f.lead_tip(is_anonymous=True))


def test_reporter_sees_their_own_report(school_tiyulu: User) -> None:
    assert selectors.may_see_reporter(school_tiyulu, f.lead_report(school_tiyulu))


@pytest.mark.parametrize("persona", ["officer_education_xiaonan", "officer_market_xiaonan"])
def test_department_never_sees_who_reported(
    request: pytest.FixtureRequest, supervisor_city: User, persona: str
) -> None:
    lead = f.lead_dispatched(supervisor_city)
    officer = request.getfixturevalue(persona)
    assert selectors.leads_visible_to(officer).filter(pk=lead.pk).exists()
    assert not selectors.may_see_reporter(officer, lead)


def test_anonymous_visitor_never_sees_who_sent_a_tip() -> None:
    from django.contrib.auth.models import AnonymousUser

    assert not selectors.may_see_reporter(AnonymousUser(), f.lead_tip())


def test_area_responsible_does_not_see_who_reported(area_guangchang: User) -> None:
    assert not selectors.may_see_reporter(area_guangchang, f.lead_tip())


# ---------------------------------------------------------------------------- work orders


def test_officer_handles_only_his_departments_orders(
    supervisor_city: User, officer_market_xiaonan: User, officer_market: User
) -> None:
    lead = f.lead_dispatched(supervisor_city)
    market = f.order_of(lead, f.MARKET_XIAONAN)
    assert list(selectors.work_orders_handled_by(officer_market_xiaonan)) == [market]
    assert not selectors.work_orders_handled_by(officer_market).exists()


def test_supervisor_sees_every_order_of_their_leads(
    supervisor_city: User, supervisor_xiaonan: User
) -> None:
    lead = f.lead_dispatched(supervisor_city)
    assert selectors.work_orders_visible_to(supervisor_xiaonan).filter(lead=lead).count() == 2
    assert not selectors.work_orders_handled_by(supervisor_xiaonan).exists()


def test_officer_sees_the_joint_operation_his_department_is_on(
    supervisor_city: User, officer_market_xiaonan: User, officer_police: User
) -> None:
    lead = f.lead_dispatched(supervisor_city)
    assert selectors.joint_operations_visible_to(officer_market_xiaonan).filter(leads=lead).exists()
    assert not selectors.joint_operations_visible_to(officer_police).filter(leads=lead).exists()


def test_extension_is_seen_by_the_bureau_and_the_department_only(
    supervisor_city: User, officer_market_xiaonan: User, officer_education_xiaonan: User
) -> None:
    lead = f.lead_dispatched(supervisor_city)
    order = services.work_order_sign(
        actor=officer_market_xiaonan, order=f.order_of(lead, f.MARKET_XIAONAN)
    )
    request = services.extension_request(
        actor=officer_market_xiaonan, order=order, days=2, reason="取证"
    )
    assert selectors.extensions_visible_to(supervisor_city).filter(pk=request.pk).exists()
    assert selectors.extensions_visible_to(officer_market_xiaonan).filter(pk=request.pk).exists()
    assert (
        not selectors.extensions_visible_to(officer_education_xiaonan)
        .filter(pk=request.pk)
        .exists()
    )


# ---------------------------------------------------------------------------- places


def test_bureau_of_a_community_is_the_nearest_education_bureau() -> None:
    assert selectors.bureau_for(f.region(data.WENCHANG)) == f.department(f.EDUCATION_XIAONAN)
    assert selectors.bureau_for(f.region("420921")) == f.department(f.EDUCATION_CITY)


def test_departments_covering_a_community_include_the_city_and_the_district() -> None:
    names = set(
        selectors.departments_covering(f.region(data.WENCHANG)).values_list("short_name", flat=True)
    )
    assert {f.EDUCATION_XIAONAN, f.MARKET_XIAONAN, f.POLICE_CITY, f.MARKET_CITY} <= names
    assert f.MARKET_XIAONAN not in set(
        selectors.departments_covering(f.region("420921")).values_list("short_name", flat=True)
    )


# ---------------------------------------------------------------------------- query counts


def _queries(user: User) -> int:
    with CaptureQueriesContext(connection) as captured:
        list(selectors.leads_visible_to(user))
    return len(captured)


@pytest.mark.parametrize(
    "persona",
    [
        "supervisor_city",
        "officer_market_xiaonan",
        "school_tiyulu",
        "area_guangchang",
        "coordinator_wenchang",
        "admin_system",
    ],
)
def test_reading_visible_leads_costs_the_same_for_one_or_many(
    request: pytest.FixtureRequest, supervisor_city: User, school_tiyulu: User, persona: str
) -> None:
    user = request.getfixturevalue(persona)
    f.lead_dispatched(supervisor_city)
    f.lead_report(school_tiyulu)
    _queries(user)  # the first read works out the user's scope, once per user object
    few = _queries(user)
    for _ in range(3):
        f.lead_dispatched(supervisor_city)
        f.lead_report(school_tiyulu)
    assert _queries(user) == few
    assert few == 1
