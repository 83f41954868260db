"""The loop's clock: overdue orders urged once per deadline, escalated later, a digest a day."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from bihuan.accounts.models import User
from bihuan.core.workdays import add_working_days
from bihuan.leads import clock, services
from bihuan.leads.models import Lead, Reminder, ViolationType, WorkOrder
from bihuan.leads.workflow import OrderStatus, ReminderKind
from bihuan.notifications.models import Notification
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(supervisor_city: User, demo_city: dict[str, int]) -> Lead:
    lead = services.lead_create(
        actor=supervisor_city,
        source="bureau",
        description="居民楼内一对一数学辅导",
        region=Region.objects.get(code="420902003001"),
        place_name="文昌小区5栋",
    )
    lead = services.lead_accept(
        actor=supervisor_city, lead=lead, violation_types=[ViolationType.objects.get(code="B3")]
    )
    return services.lead_dispatch(actor=supervisor_city, lead=lead)


def _after(order: WorkOrder, working_days: int) -> datetime:
    """A moment ``working_days`` working days after the order's current deadline, plus a second."""
    due = order.current_due
    assert due is not None
    return add_working_days(due, working_days) + timedelta(seconds=1)


def test_an_order_not_yet_due_is_left_alone(dispatched: Lead) -> None:
    assert clock.overdue_scan(timezone.now()).as_dict()["urged"] == 0
    assert not Reminder.objects.exists()


def test_an_overdue_order_is_urged_once_per_deadline(dispatched: Lead) -> None:
    order = dispatched.work_orders.get(role="lead")
    moment = _after(order, 0)
    first = clock.overdue_scan(moment)
    second = clock.overdue_scan(moment + timedelta(hours=1))
    assert first.urged == dispatched.work_orders.count()
    assert second.urged == 0
    assert Reminder.objects.filter(work_order=order, kind=ReminderKind.URGE).count() == 1
    order.refresh_from_db()
    assert order.urge_count == 1
    assert order.urged_for == order.sign_due


def test_the_urge_tells_the_department_officers_after_commit(
    dispatched: Lead, officer_education_xiaonan: User, django_capture_on_commit_callbacks: Any
) -> None:
    order = dispatched.work_orders.get(role="lead")
    with django_capture_on_commit_callbacks(execute=True):
        clock.overdue_scan(_after(order, 0))
    assert Notification.objects.filter(
        user=officer_education_xiaonan, kind="work_order.urged"
    ).exists()


def test_an_order_one_working_day_late_is_urged_but_not_escalated(dispatched: Lead) -> None:
    order = dispatched.work_orders.get(role="lead")
    result = clock.overdue_scan(_after(order, 1) - timedelta(seconds=2))
    assert result.urged >= 1
    assert result.escalated == 0


def test_an_order_long_overdue_is_escalated_to_the_area_and_the_bureau(
    dispatched: Lead,
    area_guangchang: User,
    supervisor_city: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    order = dispatched.work_orders.get(role="lead")
    moment = _after(order, clock.ESCALATE_AFTER_DAYS)
    with django_capture_on_commit_callbacks(execute=True):
        clock.overdue_scan(moment)
    again = clock.overdue_scan(moment + timedelta(days=1))
    assert again.escalated == 0
    order.refresh_from_db()
    assert order.is_supervised and order.escalation_level == 1
    assert Reminder.objects.filter(work_order=order, kind=ReminderKind.ESCALATE).count() == 1
    for person in (area_guangchang, supervisor_city):
        assert Notification.objects.filter(user=person, kind="work_order.supervised").exists()


def test_a_new_deadline_is_urged_again_when_it_passes(
    dispatched: Lead, officer_education_xiaonan: User
) -> None:
    order = dispatched.work_orders.get(role="lead")
    clock.overdue_scan(_after(order, 0))
    services.work_order_sign(actor=officer_education_xiaonan, order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.SIGNED
    clock.overdue_scan(_after(order, 0))
    assert Reminder.objects.filter(work_order=order, kind=ReminderKind.URGE).count() == 2


def test_a_scan_that_dies_midway_does_each_urge_once_when_rerun(
    dispatched: Lead, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = list(dispatched.work_orders.order_by("sign_due", "pk"))
    assert len(orders) >= 2
    moment = _after(orders[0], 0)
    real = services.work_order_urge
    calls = {"n": 0}

    def dies_on_the_second(**kwargs: object) -> Reminder:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "work_order_urge", dies_on_the_second)
    with pytest.raises(SystemExit):
        clock.overdue_scan(moment)
    monkeypatch.setattr(services, "work_order_urge", real)
    # The second order's claim died with its transaction: the rerun takes it, and only it.
    assert clock.overdue_scan(moment).urged == len(orders) - 1
    for order in orders:
        assert Reminder.objects.filter(work_order=order, kind=ReminderKind.URGE).count() == 1


def test_the_bureau_is_told_once_when_its_own_step_is_overdue(
    supervisor_city: User, demo_city: dict[str, int]
) -> None:
    lead = services.lead_create(
        actor=supervisor_city,
        source="bureau",
        description="未受理的线索",
        region=Region.objects.get(code="420902003001"),
        place_name="某小区",
    )
    assert lead.due_at is not None
    later = lead.due_at + timedelta(hours=1)
    assert clock.overdue_scan(later).leads_overdue >= 1
    assert clock.overdue_scan(later).leads_overdue == 0
    assert Notification.objects.filter(user=supervisor_city, kind="lead.overdue").count() == 1


def test_the_daily_digest_reaches_each_person_once_a_day(
    dispatched: Lead, officer_education_xiaonan: User, supervisor_city: User
) -> None:
    services.lead_create(
        actor=supervisor_city,
        source="bureau",
        description="待受理",
        region=Region.objects.get(code="420902003001"),
        place_name="某小区",
    )
    assert clock.daily_digest("2026-12-01") > 0
    assert clock.daily_digest("2026-12-01") == 0
    assert Notification.objects.filter(
        user=officer_education_xiaonan, kind="digest.department"
    ).exists()
    assert Notification.objects.filter(user=supervisor_city, kind="digest.bureau").exists()
    assert clock.daily_digest("2026-12-02") > 0


def test_the_clock_tasks_run_through_the_task_backend(dispatched: Lead) -> None:
    from bihuan.leads.tasks import daily_digest, overdue_scan

    assert overdue_scan.call("2026-11-27T00:00:00+00:00")["urged"] == 0
    assert daily_digest.call("2026-11-27T00:00:00+00:00") >= 1
