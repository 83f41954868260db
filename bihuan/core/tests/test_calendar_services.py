"""Setting and withdrawing calendar days: history kept, audited, refusals write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from bihuan.accounts.models import User
from bihuan.accounts.tests.test_scope_matrix import PERSONAS, city_for_module
from bihuan.audit.models import Event
from bihuan.core.calendar_services import calendar_day_set, calendar_day_withdraw
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.models import CalendarDay
from bihuan.core.workdays import is_workday

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 3, 9)
SATURDAY = date(2026, 3, 7)
SPRING_SATURDAY = date(2026, 2, 21)  # a Saturday inside 春节 2026
SPRING_MONDAY = date(2026, 2, 16)
MAKE_UP_SATURDAY = date(2026, 2, 14)


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker, elsewhere=False):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


def _state() -> tuple[list[tuple[Any, ...]], int]:
    rows = list(
        CalendarDay.objects.order_by("pk").values_list(
            "pk", "date", "is_workday", "name", "is_active", "is_official", "updated_by"
        )
    )
    return rows, Event.objects.count()


def test_holiday_on_a_weekday_is_recorded_and_counted_at_once(admin_system: User) -> None:
    assert is_workday(MONDAY)
    entry = calendar_day_set(actor=admin_system, day=MONDAY, is_workday=False, name=" 防汛放假 ")
    assert (entry.name, entry.is_active, entry.is_official) == ("防汛放假", True, False)
    assert entry.created_by == admin_system
    assert not is_workday(MONDAY)
    event = Event.objects.get(verb="calendar_day.set", object_id=str(entry.pk))
    assert event.actor == admin_system
    assert event.before is None
    assert event.after is not None
    assert event.after["date"] == "2026-03-09"


def test_make_up_working_day_on_a_weekend_is_recorded(admin_system: User) -> None:
    calendar_day_set(actor=admin_system, day=SATURDAY, is_workday=True, name="调休上班")
    assert is_workday(SATURDAY)


def test_changing_a_day_keeps_the_withdrawn_entry(admin_system: User) -> None:
    old = CalendarDay.objects.get(date=SPRING_SATURDAY, is_active=True)
    new = calendar_day_set(
        actor=admin_system, day=SPRING_SATURDAY, is_workday=True, name="春节调休上班"
    )
    old.refresh_from_db()
    assert (old.is_active, old.updated_by) == (False, admin_system)
    assert new.is_active and new.pk != old.pk
    assert is_workday(SPRING_SATURDAY)
    event = Event.objects.get(verb="calendar_day.set", object_id=str(new.pk))
    assert event.before is not None
    assert (event.before["name"], event.before["is_workday"]) == ("春节", False)


def test_withdrawing_a_day_restores_the_weekday_rule(admin_system: User) -> None:
    entry = calendar_day_withdraw(actor=admin_system, day=SPRING_MONDAY)
    entry.refresh_from_db()
    assert not entry.is_active
    assert CalendarDay.objects.filter(pk=entry.pk).exists()
    assert is_workday(SPRING_MONDAY)
    assert Event.objects.filter(verb="calendar_day.withdrawn", object_id=str(entry.pk)).exists()


def test_a_withdrawn_day_can_be_set_again(admin_system: User) -> None:
    calendar_day_withdraw(actor=admin_system, day=SPRING_MONDAY)
    calendar_day_set(actor=admin_system, day=SPRING_MONDAY, is_workday=False, name="春节")
    assert not is_workday(SPRING_MONDAY)
    assert CalendarDay.objects.filter(date=SPRING_MONDAY).count() == 2


@pytest.mark.parametrize(
    ("day", "workday", "name", "field"),
    [
        pytest.param(MONDAY, True, "调休上班", "day", id="make-up-day-on-a-weekday"),
        pytest.param(SPRING_MONDAY, False, "春节", "day", id="holiday-on-a-holiday"),
        pytest.param(SPRING_MONDAY, False, "另一个名字", "day", id="holiday-renamed-in-place"),
        pytest.param(MAKE_UP_SATURDAY, True, "调休", "day", id="make-up-day-on-a-make-up-day"),
        pytest.param(date(1999, 12, 31), False, "千禧", "day", id="before-2000"),
        pytest.param(date(2101, 1, 1), False, "元旦", "day", id="after-2100"),
        pytest.param(MONDAY, False, "   ", "name", id="empty-name"),
        pytest.param(MONDAY, False, "长" * 51, "name", id="name-too-long"),
    ],
)
def test_refused_change_writes_nothing(
    admin_system: User, day: date, workday: bool, name: str, field: str
) -> None:
    before = _state()
    with pytest.raises(ServiceError) as refusal:
        calendar_day_set(actor=admin_system, day=day, is_workday=workday, name=name)
    assert refusal.value.field == field
    assert refusal.value.message
    assert _state() == before


def test_withdrawing_a_date_without_an_entry_is_refused(admin_system: User) -> None:
    before = _state()
    with pytest.raises(ServiceError):
        calendar_day_withdraw(actor=admin_system, day=MONDAY)
    assert _state() == before


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "admin_system"])
def test_only_the_system_administrator_may_change_the_calendar(
    request: pytest.FixtureRequest, persona: str
) -> None:
    actor = request.getfixturevalue(persona)
    before = _state()
    with pytest.raises(NotAllowed):
        calendar_day_set(actor=actor, day=MONDAY, is_workday=False, name="放假")
    with pytest.raises(NotAllowed):
        calendar_day_withdraw(actor=actor, day=SPRING_MONDAY)
    assert _state() == before


def test_database_allows_one_active_entry_per_date() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        CalendarDay.objects.create(date=SPRING_MONDAY, is_workday=False, name="重复")


def test_database_refuses_a_date_outside_the_calendar() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        CalendarDay.objects.create(date=date(2101, 1, 3), is_workday=False, name="远")
