"""The database itself refuses to change or remove an event, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from bihuan.audit.models import Event
from bihuan.audit.services import event_record


@pytest.fixture
def event(db: None) -> Event:
    return event_record(actor=None, verb="test.recorded", object_type="test", object_id="1")


def test_orm_update_of_an_event_is_refused(event: Event) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        Event.objects.filter(pk=event.pk).update(verb="test.forged")
    assert Event.objects.get(pk=event.pk).verb == "test.recorded"


def test_raw_sql_update_of_an_event_is_refused(event: Event) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_event SET actor_label = 'intruder' WHERE id = %s", [event.pk])
    assert Event.objects.get(pk=event.pk).actor_label == ""


def test_delete_of_an_event_is_refused(event: Event) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        Event.objects.filter(pk=event.pk).delete()
    assert Event.objects.filter(pk=event.pk).exists()


def test_raw_sql_delete_of_every_event_is_refused(event: Event) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_event")
    assert Event.objects.count() == 1


def test_emptying_the_table_is_refused(event: Event) -> None:
    # PostgreSQL empties tables with TRUNCATE, which row triggers do not see; SQLite has none.
    statement = (
        "TRUNCATE audit_event" if connection.vendor == "postgresql" else "DELETE FROM audit_event"
    )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert Event.objects.count() == 1


def test_live_db_restores_triggers_after_the_flush(live_db: None) -> None:
    event = event_record(actor=None, verb="test.committed")
    with pytest.raises(DatabaseError), transaction.atomic():
        Event.objects.filter(pk=event.pk).update(verb="test.forged")


def test_triggers_are_back_for_the_next_test(event: Event) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        Event.objects.filter(pk=event.pk).delete()
