"""The two screening figures on a small world whose numbers are counted by hand.

March 2026, Asia/Shanghai. In 文昌社区 (wc1…wc5, wc5 later merged into wc1) and 槐荫社区 (hy1):

V1   杨铁柱 + 钱红 at wc1, 03-02 10:00, approved
V2   杨铁柱 at wc2, 03-02 15:00, approved (the same person the same day: twice)
V3   钱红 + 赵丽 at wc1, 03-20 09:00, approved (杨铁柱 left the visit; wc1's second visit)
V4   杨铁柱 at wc3, 03-05 10:00, returned, corrected, approved
V5   杨铁柱 at wc4, 03-06 10:00, approved, found closed down
V6   钱红 at wc5, 03-31 23:30, approved (wc5 was merged into wc1)
V7   杨铁柱 at wc2, 04-01 00:30, approved (April)
V8   杨铁柱 at wc3, 03-10, draft
V9   钱红 at wc4, 03-11, submitted
V10  杨铁柱 at wc2, 03-12, returned
V11  孙平 at hy1, 03-15, approved
V12  杨铁柱 at wc1, 02-28 23:59, approved (February)

Joint operations: J1 recorded 03-10 in 文昌 (陈思远, 林涛 absent, 王明/市公安局, 李强 entered
twice without a department); J2 confirmed, not recorded, 03-12; J3 recorded 04-02 (钱七);
J4 recorded 03-15 in 槐荫 (杨铁柱, 赵六); J5 declined.

文昌, March: person-times V1 2 + V2 1 + V3 2 + V4 1 + V5 1 + V6 1 + J1 3 = 11; screened: visits
V1 V2 V4 V3 V6 = 5 (家次), institutions wc1 wc2 wc3 = 3 (家).
City, March: 11 + V11 1 + J4 2 = 14; screened 6 visits, 4 institutions.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from bihuan.accounts.models import Department, User
from bihuan.demo import data
from bihuan.leads.models import JointOperation, JointParticipant
from bihuan.leads.tests import factories as lf
from bihuan.leads.workflow import JointStatus
from bihuan.registry.models import Institution
from bihuan.screening import figures
from bihuan.screening.models import (
    Inspection,
    InspectionParticipant,
    InspectionReview,
    InspectionVersion,
)
from bihuan.screening.tests import factories as f
from bihuan.screening.workflow import InspectionStatus, ReviewDecision, VisitOutcome
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db

LOCAL = ZoneInfo("Asia/Shanghai")
MARCH = (datetime.date(2026, 3, 1), datetime.date(2026, 3, 31))
APRIL = (datetime.date(2026, 4, 1), datetime.date(2026, 4, 30))


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


def _at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=LOCAL)


def _visit(
    inspector: User,
    institution: Institution,
    at: datetime.datetime,
    *,
    status: str = InspectionStatus.APPROVED,
    outcome: str = VisitOutcome.VISITED,
    co: tuple[User, ...] = (),
    left: tuple[User, ...] = (),
) -> Inspection:
    """One visit in its own round (a round lists an institution once)."""
    region = institution.region
    item = f.issued_round(inspector, [institution], region=region).items.get()
    if status == InspectionStatus.DRAFT:
        return Inspection.objects.create(
            task=item.task,
            item=item,
            institution=institution,
            region=region,
            checklist=item.round.checklist,
            inspector=inspector,
            visited_at=at,
        )
    # The factory cannot write an approval time: submit, then approve in the same update.
    inspection = f.submitted_inspection(item)
    Inspection.objects.filter(pk=inspection.pk).update(
        status=status,
        visited_at=at,
        outcome=outcome,
        approved_at=timezone.now() if status == InspectionStatus.APPROVED else None,
    )
    for person in co:
        InspectionParticipant.objects.create(inspection=inspection, user=person)
    for person in left:
        InspectionParticipant.objects.create(inspection=inspection, user=person, is_active=False)
    return inspection


def _joint(
    status: str,
    day: datetime.date | None,
    region: Region,
    users: tuple[tuple[User, bool], ...] = (),
    named: tuple[tuple[str, Department | None], ...] = (),
) -> JointOperation:
    operation = JointOperation.objects.create(
        title=f"联合检查{uuid.uuid4().hex[:4]}",
        status=status,
        region=region,
        planned_for=day,
        decline_reason="无需联合" if status == JointStatus.DECLINED else "",
    )
    for user, took_part in users:
        JointParticipant.objects.create(
            operation=operation, user=user, name=str(user), took_part=took_part
        )
    for name, department in named:
        JointParticipant.objects.create(operation=operation, name=name, department=department)
    return operation


@pytest.fixture
def world(
    inspector_wenchang: User,
    coordinator_wenchang: User,
    coordinator_huaiyin: User,
    supervisor_city: User,
    officer_market: User,
) -> dict[str, Any]:
    yang, zhao, sun = inspector_wenchang, coordinator_wenchang, coordinator_huaiyin
    qian = User.objects.get(username="inspector2")
    wc = [lf.institution_make(f"文昌图表机构{n}") for n in range(1, 6)]
    hy1 = lf.institution_make("槐荫图表机构", region_code=data.HUAIYIN)
    v: dict[str, Inspection] = {}
    v["V1"] = _visit(yang, wc[0], _at(3, 2, 10), co=(qian,))
    v["V2"] = _visit(yang, wc[1], _at(3, 2, 15))
    v["V3"] = _visit(qian, wc[0], _at(3, 20, 9), co=(zhao,), left=(yang,))
    v["V4"] = _visit(yang, wc[2], _at(3, 5))
    _corrected(v["V4"], zhao)
    v["V5"] = _visit(yang, wc[3], _at(3, 6), outcome=VisitOutcome.CLOSED)
    v["V6"] = _visit(qian, wc[4], _at(3, 31, 23, 30))
    v["V7"] = _visit(yang, wc[1], _at(4, 1, 0, 30))
    v["V8"] = _visit(yang, wc[2], _at(3, 10), status=InspectionStatus.DRAFT)
    v["V9"] = _visit(qian, wc[3], _at(3, 11), status=InspectionStatus.SUBMITTED)
    v["V10"] = _visit(yang, wc[1], _at(3, 12), status=InspectionStatus.RETURNED)
    v["V11"] = _visit(sun, hy1, _at(3, 15))
    v["V12"] = _visit(yang, wc[0], _at(2, 28, 23, 59))
    Institution.objects.filter(pk=wc[4].pk).update(merged_into=wc[0])
    wenchang, huaiyin = lf.region(data.WENCHANG), lf.region(data.HUAIYIN)
    police = lf.department("市公安局")
    j = {
        "J1": _joint(
            JointStatus.RECORDED,
            datetime.date(2026, 3, 10),
            wenchang,
            users=((supervisor_city, True), (officer_market, False)),
            named=(("王明", police), ("李强", None), ("李强", None)),
        ),
        "J2": _joint(
            JointStatus.CONFIRMED,
            datetime.date(2026, 3, 12),
            wenchang,
            users=((supervisor_city, True),),
        ),
        "J3": _joint(
            JointStatus.RECORDED, datetime.date(2026, 4, 2), wenchang, named=(("钱七", None),)
        ),
        "J4": _joint(
            JointStatus.RECORDED,
            datetime.date(2026, 3, 15),
            huaiyin,
            users=((yang, True),),
            named=(("赵六", None),),
        ),
        "J5": _joint(JointStatus.DECLINED, None, wenchang, users=((supervisor_city, True),)),
    }
    return {"v": v, "j": j, "wc": wc, "hy1": hy1, "wenchang": wenchang, "huaiyin": huaiyin}


def _corrected(inspection: Inspection, reviewer: User) -> None:
    """Version 1 returned, version 2 approved: the history of V4."""
    first = inspection.versions.get(number=1)
    InspectionReview.objects.create(
        inspection=inspection,
        version=first,
        decision=ReviewDecision.RETURNED,
        reason="缺照片",
        reviewer=reviewer,
        decided_at=timezone.now(),
    )
    second = InspectionVersion.objects.create(
        inspection=inspection,
        number=2,
        submission_id=uuid.uuid4(),
        answers=first.answers,
        outcome=VisitOutcome.VISITED,
        participant_ids=first.participant_ids,
        submitted_by=inspection.inspector,
        submitted_at=timezone.now(),
    )
    InspectionReview.objects.create(
        inspection=inspection,
        version=second,
        decision=ReviewDecision.APPROVED,
        reviewer=reviewer,
        decided_at=timezone.now(),
    )
    Inspection.objects.filter(pk=inspection.pk).update(version=2)


# ---------------------------------------------------------------------------- person-times


def test_person_times_of_a_community_count_each_person_on_each_visit_and_operation(
    world: dict[str, Any],
) -> None:
    assert figures.person_times(*MARCH, world["wenchang"]) == 11


def test_person_times_of_the_city_add_the_other_community(world: dict[str, Any]) -> None:
    assert figures.person_times(*MARCH, None) == 14
    assert figures.person_times(*MARCH, lf.region(data.XIAONAN)) == 14
    assert figures.person_times(*MARCH, world["huaiyin"]) == 1 + 2


def test_the_period_is_whole_days_in_shanghai_time(world: dict[str, Any]) -> None:
    # V6 at 23:30 on 31 March is March; V7 at 00:30 on 1 April (16:30 UTC on 31 March) is April.
    records = figures.person_time_records(*APRIL, world["wenchang"])
    assert {p.inspection_id for p in records.inspections} == {world["v"]["V7"].pk}
    assert [p.name for p in records.joint] == ["钱七"]
    assert figures.person_times(*APRIL, world["wenchang"]) == 2
    one_day = (datetime.date(2026, 3, 31), datetime.date(2026, 3, 31))
    assert figures.person_times(*one_day, world["wenchang"]) == 1


def test_the_rows_behind_person_times_are_the_people_who_took_part(
    world: dict[str, Any], inspector_wenchang: User, coordinator_wenchang: User
) -> None:
    v = world["v"]
    qian = User.objects.get(username="inspector2")
    records = figures.person_time_records(*MARCH, world["wenchang"])
    pairs = sorted((p.inspection_id, p.user_id) for p in records.inspections)
    assert pairs == sorted(
        [
            (v["V1"].pk, inspector_wenchang.pk),
            (v["V1"].pk, qian.pk),
            (v["V2"].pk, inspector_wenchang.pk),
            (v["V3"].pk, qian.pk),
            (v["V3"].pk, coordinator_wenchang.pk),
            (v["V4"].pk, inspector_wenchang.pk),
            (v["V5"].pk, inspector_wenchang.pk),
            (v["V6"].pk, qian.pk),
        ]
    )
    assert sorted(p.name for p in records.joint) == sorted(["陈思远", "王明", "李强"])
    assert records.count() == figures.person_times(*MARCH, world["wenchang"])


def test_person_times_take_two_queries(
    world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(2):
        figures.person_times(*MARCH, world["wenchang"])


# ---------------------------------------------------------------------------- screened


def test_institutions_screened_in_a_community(world: dict[str, Any]) -> None:
    assert figures.institutions_screened(*MARCH, world["wenchang"]) == figures.Screened(
        institutions=3, visits=5
    )


def test_institutions_screened_in_the_city(world: dict[str, Any]) -> None:
    assert figures.institutions_screened(*MARCH, None) == figures.Screened(institutions=4, visits=6)
    assert figures.institutions_screened(*APRIL, None) == figures.Screened(institutions=1, visits=1)


def test_the_visits_behind_the_figure_name_the_surviving_institution(
    world: dict[str, Any],
) -> None:
    v, wc = world["v"], world["wc"]
    records = figures.screened_records(*MARCH, world["wenchang"])
    # The stubs cannot see the annotation made inside screened_records.
    rows = list(records.values_list("pk", "counted_institution"))  # type: ignore[misc]
    assert rows == [
        (v["V1"].pk, wc[0].pk),
        (v["V2"].pk, wc[1].pk),
        (v["V4"].pk, wc[2].pk),
        (v["V3"].pk, wc[0].pk),
        (v["V6"].pk, wc[0].pk),
    ]


def test_a_visit_that_found_no_institution_screens_nothing(world: dict[str, Any]) -> None:
    closed = world["v"]["V5"]
    assert closed.pk not in {r.pk for r in figures.screened_records(*MARCH, None)}
    # … but the people still went out.
    assert closed.pk in {
        p.inspection_id for p in figures.person_time_records(*MARCH, None).inspections
    }


def test_institutions_screened_take_one_query(
    world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(1):
        figures.institutions_screened(*MARCH, world["wenchang"])


def test_an_empty_period_counts_nothing(world: dict[str, Any]) -> None:
    january = (datetime.date(2026, 1, 1), datetime.date(2026, 1, 31))
    assert figures.person_times(*january, None) == 0
    assert figures.institutions_screened(*january, None) == figures.Screened(0, 0)
