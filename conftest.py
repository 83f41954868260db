"""Shared fixtures: the demo city and its personas, and a committed-database fixture.

Personas are the demo accounts (STYLE.md: inspector_wenchang, officer_market, supervisor_city, …),
so tests, the demo and the browser tests all speak about the same people and places.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from bihuan.accounts.models import User
from bihuan.audit import triggers
from bihuan.core.workdays import calendar_forget
from bihuan.demo.loader import load_demo


@pytest.fixture(autouse=True)
def _fresh_working_day_calendar() -> Iterator[None]:
    # The calendar is cached in-process; a test's changes to it roll back, so must its copy.
    calendar_forget()
    yield
    calendar_forget()


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    """The demo city of Xiaogan, loaded through the services."""
    return load_demo()


def _persona(username: str) -> User:
    return User.objects.get(username=username)


@pytest.fixture
def admin_system(demo_city: dict[str, int]) -> User:
    return _persona("admin")


@pytest.fixture
def admin_security(demo_city: dict[str, int]) -> User:
    return _persona("security")


@pytest.fixture
def admin_audit(demo_city: dict[str, int]) -> User:
    return _persona("auditor")


@pytest.fixture
def supervisor_city(demo_city: dict[str, int]) -> User:
    return _persona("supervisor")


@pytest.fixture
def supervisor_xiaonan(demo_city: dict[str, int]) -> User:
    return _persona("xiaonan")


@pytest.fixture
def coordinator_wenchang(demo_city: dict[str, int]) -> User:
    return _persona("wenchang")


@pytest.fixture
def coordinator_huaiyin(demo_city: dict[str, int]) -> User:
    return _persona("huaiyin")


@pytest.fixture
def inspector_wenchang(demo_city: dict[str, int]) -> User:
    return _persona("yangtiezhu")


@pytest.fixture
def officer_market(demo_city: dict[str, int]) -> User:
    return _persona("market")


@pytest.fixture
def officer_education_xiaonan(demo_city: dict[str, int]) -> User:
    return _persona("xnjiaoyu")


@pytest.fixture
def officer_market_xiaonan(demo_city: dict[str, int]) -> User:
    return _persona("xnmarket")


@pytest.fixture
def officer_police(demo_city: dict[str, int]) -> User:
    return _persona("gongan")


@pytest.fixture
def school_tiyulu(demo_city: dict[str, int]) -> User:
    return _persona("school")


@pytest.fixture
def area_guangchang(demo_city: dict[str, int]) -> User:
    return _persona("pianqu")


@pytest.fixture
def _restore_audit_triggers(
    django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[None]:
    # Set up before transactional_db, so torn down after its flush: put the triggers back, and the
    # rows the migrations inserted (taxonomy, calendar, party kinds), so that a test running after
    # this one in the same process finds the database as migrate left it, whatever the order
    # (pytest-xdist does not keep pytest-django's "committed-database tests last" ordering).
    yield
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        triggers.install(connection)
        contents = getattr(connection, "_test_serialized_contents", None)
        if contents:
            connection.creation.deserialize_db_from_string(contents)


@pytest.fixture
def live_db(
    _restore_audit_triggers: None, django_db_serialized_rollback: None, transactional_db: None
) -> Iterator[None]:
    """A database whose writes are committed (for threads, processes and a live server).

    Emptying it afterwards means deleting events, which the append-only triggers refuse, so the
    triggers are lifted for the flush only and restored right after. The flush also empties the
    rows that migrations insert (responsible party kinds, content types, the taxonomy, the
    calendar); they are put back, with their ids, right after the flush.
    """
    yield
    triggers.remove(connection)
