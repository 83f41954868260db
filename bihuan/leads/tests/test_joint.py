"""Joint operations: proposed by the rules, confirmed or declined by the bureau, then recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from bihuan.accounts.models import User
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads import services
from bihuan.leads.models import JointOperation
from bihuan.leads.tests import factories as f
from bihuan.leads.workflow import JointStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    return {}


@pytest.fixture
def proposed(supervisor_city: User) -> JointOperation:
    lead = f.lead_dispatched(supervisor_city)
    return JointOperation.objects.get(leads=lead, status=JointStatus.PROPOSED)


def test_reassigning_an_order_moves_the_proposal_to_the_new_department(
    proposed: JointOperation, supervisor_city: User, officer_market_xiaonan: User
) -> None:
    lead = proposed.leads.get()
    market = f.order_of(lead, "孝南区市场监管局")
    police = f.department("市公安局")
    services.work_order_return(
        actor=officer_market_xiaonan, order=market, proposed_department=police, reason="非家政公司"
    )
    services.work_order_reassign(actor=supervisor_city, order=market, department=police)
    names = set(proposed.departments.values_list("short_name", flat=True))
    assert "市公安局" in names and "孝南区市场监管局" not in names


def test_a_confirmation_needs_two_departments_a_team_and_a_date_not_past(
    proposed: JointOperation, supervisor_city: User
) -> None:
    education = f.department("孝南区教育局")
    market = f.department("孝南区市场监管局")
    today = timezone.localdate()
    refusals: list[dict[str, Any]] = [
        {"planned_for": today, "departments": [education], "named": [("王明", None)]},
        {"planned_for": today, "departments": [education, market]},
        {
            "planned_for": today - timedelta(days=1),
            "departments": [education, market],
            "named": [("王明", None)],
        },
    ]
    for arguments in refusals:
        with pytest.raises(ServiceError):
            services.joint_confirm(actor=supervisor_city, operation=proposed, **arguments)
        proposed.refresh_from_db()
        assert proposed.status == JointStatus.PROPOSED
        assert not proposed.participants.exists()


def test_a_recorded_operation_counts_only_who_took_part(
    proposed: JointOperation, supervisor_city: User, officer_education_xiaonan: User
) -> None:
    departments = [f.department("孝南区教育局"), f.department("孝南区市场监管局")]
    operation = services.joint_confirm(
        actor=supervisor_city,
        operation=proposed,
        planned_for=timezone.localdate(),
        departments=departments,
        team=[officer_education_xiaonan],
        named=[("王明", departments[1]), ("李强", departments[1])],
    )
    absent = operation.participants.get(name="李强")
    operation = services.joint_record(
        actor=supervisor_city, operation=operation, outcome="联合检查，已取缔", absent=[absent]
    )
    assert operation.status == JointStatus.RECORDED
    assert operation.participants.filter(took_part=True).count() == 2


def test_a_declined_proposal_keeps_its_reason_and_cannot_be_confirmed(
    proposed: JointOperation, supervisor_city: User
) -> None:
    with pytest.raises(ServiceError):
        services.joint_decline(actor=supervisor_city, operation=proposed, reason=" ")
    services.joint_decline(actor=supervisor_city, operation=proposed, reason="单一部门可处理")
    with pytest.raises(ServiceError):
        services.joint_confirm(
            actor=supervisor_city,
            operation=proposed,
            planned_for=timezone.localdate(),
            departments=[f.department("孝南区教育局"), f.department("孝南区市场监管局")],
            named=[("王明", None)],
        )


@pytest.mark.parametrize("persona", ["officer_education_xiaonan", "supervisor_xiaonan_outside"])
def test_only_the_bureau_of_the_place_decides(
    request: pytest.FixtureRequest, persona: str, proposed: JointOperation
) -> None:
    if persona == "supervisor_xiaonan_outside":
        # 孝南区's supervisor decides for 孝南区; a lead of 孝昌县 is outside his place.
        proposed.region = f.region("420921")
        proposed.save(update_fields=["region"])
        actor = request.getfixturevalue("supervisor_xiaonan")
    else:
        actor = request.getfixturevalue(persona)
    with pytest.raises(NotAllowed):
        services.joint_decline(actor=actor, operation=proposed, reason="不需要")
    proposed.refresh_from_db()
    assert proposed.status == JointStatus.PROPOSED
