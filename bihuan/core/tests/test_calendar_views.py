"""The calendar page: only the system administrator uses it; a year's view, edits and export."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from bihuan.accounts.models import User
from bihuan.accounts.tests.test_scope_matrix import PERSONAS, city_for_module
from bihuan.audit.models import Event
from bihuan.core.models import CalendarDay

pytestmark = pytest.mark.django_db

PAGE = "/calendar/"
ADD_HOLIDAY = {"day": "2026-03-09", "kind": "holiday", "name": "防汛放假", "is_official": ""}
WITHDRAW = "/calendar/2026-02-16/withdraw/"


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker, elsewhere=False):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


@pytest.fixture
def admin_client(client: Client, admin_system: User) -> Client:
    client.force_login(admin_system)
    return client


def _rows() -> list[tuple[Any, ...]]:
    return list(
        CalendarDay.objects.order_by("pk").values_list(
            "pk", "date", "is_workday", "name", "is_active", "is_official", "updated_by"
        )
    )


# --- Who may use the page -------------------------------------------------------------------

REQUESTS: dict[str, Callable[[Client], Any]] = {
    "view": lambda c: c.get(PAGE),
    "view-year": lambda c: c.get(PAGE, {"year": "2026"}),
    "export": lambda c: c.get(PAGE, {"year": "2026", "format": "xlsx"}),
    "set": lambda c: c.post(PAGE, ADD_HOLIDAY),
    "withdraw": lambda c: c.post(WITHDRAW),
}
WRITES = {"set", "withdraw"}
# Session, user, scope, the year's entries, and what the base template's menus need.
QUERY_BUDGET = 12


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", sorted(REQUESTS))
def test_only_the_system_administrator_may_use_the_calendar(
    client: Client, request: pytest.FixtureRequest, persona: str, action: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    before, events = _rows(), Event.objects.count()
    response = REQUESTS[action](client)
    if persona != "admin_system":
        assert response.status_code == 404
        assert _rows() == before
        assert Event.objects.count() == events
    elif action in WRITES:
        assert response.status_code == 302
        assert _rows() != before
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("action", sorted(REQUESTS))
def test_anonymous_visitor_is_sent_to_sign_in(client: Client, action: str) -> None:
    before = _rows()
    response = REQUESTS[action](client)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert _rows() == before


def test_menu_shows_the_calendar_to_the_system_administrator_only(
    client: Client, admin_system: User, supervisor_city: User
) -> None:
    client.force_login(admin_system)
    assert f'href="{PAGE}"' in client.get("/").content.decode()
    client.force_login(supervisor_city)
    assert f'href="{PAGE}"' not in client.get("/").content.decode()


# --- The year view ----------------------------------------------------------------------------


def test_year_view_lists_the_exceptions_and_working_days_per_month(admin_client: Client) -> None:
    response = admin_client.get(PAGE, {"year": "2026"})
    assert response.status_code == 200
    entries = response.context["entries"]
    assert [e.date.isoformat() for e in entries if e.is_workday] == [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ]
    assert "春节" in response.content.decode()
    months = response.context["months"]
    assert months[1]["working_days"] == 16  # February: 20 weekdays - 6 in 春节 + 2 Saturdays
    assert (months[1]["holidays"], months[1]["make_up_days"]) == (9, 2)
    # 261 weekdays - 19 holidays on weekdays + 6 make-up days.
    assert response.context["total"] == 248


def test_year_view_warns_when_the_next_year_has_no_official_schedule(
    admin_client: Client,
) -> None:
    assert admin_client.get(PAGE, {"year": "2026"}).context["missing_next_year"]
    assert not admin_client.get(PAGE, {"year": "2025"}).context["missing_next_year"]
    page = admin_client.get(PAGE, {"year": "2030"}).context
    assert page["missing_this_year"] and page["missing_next_year"]


@pytest.mark.parametrize("year", ["abc", "1999", "2101"])
def test_year_outside_the_calendar_is_404(admin_client: Client, year: str) -> None:
    assert admin_client.get(PAGE, {"year": year}).status_code == 404


def test_year_view_runs_the_same_queries_however_many_days_it_lists(
    admin_client: Client,
) -> None:
    admin_client.get(PAGE, {"year": "2030"})  # warm the session and the calendar
    with CaptureQueriesContext(connection) as empty:
        assert admin_client.get(PAGE, {"year": "2030"}).context["entries"] == []
    with CaptureQueriesContext(connection) as full:
        assert len(admin_client.get(PAGE, {"year": "2026"}).context["entries"]) == 39
    assert len(full) == len(empty) <= QUERY_BUDGET


def test_export_holds_one_row_per_exception(admin_client: Client) -> None:
    response = admin_client.get(PAGE, {"year": "2025", "format": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + CalendarDay.objects.filter(date__year=2025, is_active=True).count()
    assert rows[1][3] == "元旦"


# --- Edits --------------------------------------------------------------------------------------


def test_adding_a_holiday_returns_to_its_year(admin_client: Client) -> None:
    response = admin_client.post(PAGE, ADD_HOLIDAY)
    assert response.status_code == 302
    assert response["Location"] == "/calendar/?year=2026"
    entry = CalendarDay.objects.get(date="2026-03-09", is_active=True)
    assert (entry.is_workday, entry.name, entry.is_official) == (False, "防汛放假", False)


def test_add_works_the_same_through_htmx(admin_client: Client) -> None:
    response = admin_client.post(PAGE, ADD_HOLIDAY, headers={"HX-Request": "true"})
    assert response.status_code == 302
    assert CalendarDay.objects.filter(date="2026-03-09", is_active=True).exists()


def test_refused_change_shows_the_reason_and_writes_nothing(admin_client: Client) -> None:
    before = _rows()
    response = admin_client.post(PAGE, {"day": "2026-03-09", "kind": "workday", "name": "调休上班"})
    assert response.status_code == 200
    assert response.context["form"].errors["day"]
    assert _rows() == before


def test_withdrawing_keeps_the_row_inactive(admin_client: Client) -> None:
    response = admin_client.post(WITHDRAW)
    assert response.status_code == 302
    assert response["Location"] == "/calendar/?year=2026"
    assert not CalendarDay.objects.filter(date="2026-02-16", is_active=True).exists()
    assert CalendarDay.objects.filter(date="2026-02-16", is_active=False).exists()


def test_withdrawing_a_date_without_an_entry_explains_and_writes_nothing(
    admin_client: Client,
) -> None:
    before = _rows()
    response = admin_client.post("/calendar/2026-03-09/withdraw/", follow=True)
    assert response.status_code == 200
    assert any(m.level_tag == "error" for m in response.context["messages"])
    assert _rows() == before


def test_withdraw_is_post_only(admin_client: Client) -> None:
    assert admin_client.get(WITHDRAW).status_code == 405
