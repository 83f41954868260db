"""The hash chain: every committed event is sealed exactly once, in one unbroken chain."""

from __future__ import annotations

import datetime
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bihuan.audit import chain, triggers
from bihuan.audit.models import Event, Seal
from bihuan.audit.services import event_record, events_bulk_record
from bihuan.audit.tasks import seal_events


def _record(n: int, verb: str = "test.recorded") -> list[Event]:
    return [
        event_record(actor=None, verb=verb, object_type="test", object_id=str(i)) for i in range(n)
    ]


def _assert_valid_chain() -> None:
    seals = list(Seal.objects.order_by("seq").values_list("seq", "event_id", "prev_hash", "hash"))
    assert [s[0] for s in seals] == list(range(1, len(seals) + 1))
    assert len({s[1] for s in seals}) == len(seals)
    assert [s[2] for s in seals] == [chain.GENESIS] + [s[3] for s in seals[:-1]]
    check = chain.ChainCheck(grace=datetime.timedelta(0))
    assert list(check.failures()) == []
    assert check.seals == len(seals)


# --- canonical form ----------------------------------------------------------------------------

AFTER = {"b": 1.0, "a": [1, "文", None, True, {"z": 0.5, "y": 1e20}], "n": 10**15, "s": 'a"b'}
CANONICAL = (
    '{"actor_id":null,"actor_label":"","after":{"a":[1,"文",null,true,{"y":100000000000000000000,'
    '"z":0.5}],"b":1,"n":1000000000000000,"s":"a\\"b"},"at":"2026-03-02T01:02:03.456789Z",'
    '"before":null,"id":%d,"ip":"10.0.0.1","object_id":"7","object_repr":"学校","object_type":'
    '"test","seq":3,"verb":"test.recorded"}'
)


def test_canonical_bytes_survive_the_database_round_trip(db: None) -> None:
    # The same literal on SQLite and PostgreSQL: jsonb reorders keys and turns 1e20 into an int.
    stamp = Event._meta.get_field("at")
    event = Event(
        verb="test.recorded",
        object_type="test",
        object_id="7",
        object_repr="学校",
        after=AFTER,
        ip="10.0.0.1",
        at=datetime.datetime(
            2026, 3, 2, 9, 2, 3, 456789, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
        ),
    )
    stamp.auto_now_add = False  # type: ignore[attr-defined]
    try:
        event.save()
    finally:
        stamp.auto_now_add = True  # type: ignore[attr-defined]
    row = Event.objects.filter(pk=event.pk).values_list(*chain.FIELDS).get()
    assert chain.canonical(3, row).decode() == CANONICAL % event.pk


def test_the_hash_depends_on_the_key_the_previous_hash_and_the_position(db: None) -> None:
    [event] = _record(1)
    row = Event.objects.filter(pk=event.pk).values_list(*chain.FIELDS).get()
    base = chain.link_hash(b"k" * 32, chain.GENESIS, 1, row)
    assert len(base) == 64
    assert chain.link_hash(b"x" * 32, chain.GENESIS, 1, row) != base
    assert chain.link_hash(b"k" * 32, "1" * 64, 1, row) != base
    assert chain.link_hash(b"k" * 32, chain.GENESIS, 2, row) != base


@override_settings(AUDIT_CHAIN_KEY="")
def test_the_default_key_is_derived_from_the_secret_key_not_equal_to_it(settings: Any) -> None:
    key_id, key = chain.chain_key()
    assert key != settings.SECRET_KEY.encode()
    assert len(key) == 32 and len(key_id) == 16
    settings.AUDIT_CHAIN_KEY = "another key"
    assert chain.chain_key()[0] != key_id


# --- sealing -----------------------------------------------------------------------------------


def test_sealing_seals_every_event_once_in_id_order(db: None) -> None:
    events = _record(5)
    assert chain.seal_pending(lookback=None) == 5
    assert list(Seal.objects.order_by("seq").values_list("event_id", flat=True)) == [
        e.pk for e in events
    ]
    _assert_valid_chain()


def test_sealing_again_seals_nothing(db: None) -> None:
    _record(3)
    chain.seal_pending(lookback=None)
    assert chain.seal_pending(lookback=None) == 0
    assert chain.seal_pending() == 0
    assert Seal.objects.count() == 3


def test_sealing_in_small_batches_continues_the_chain(db: None) -> None:
    _record(7)
    assert chain.seal_pending(lookback=None, batch=2) == 7
    _record(2)
    assert chain.seal_pending(batch=3) == 2
    _assert_valid_chain()


def test_a_limited_pass_leaves_the_rest_for_the_next(db: None) -> None:
    _record(5)
    assert chain.seal_pending(limit=3, batch=2) == 3
    assert chain.seal_pending(limit=3) == 2
    _assert_valid_chain()


def test_the_first_pass_seals_events_older_than_any_lookback(db: None) -> None:
    # Events from before the chain existed: the first pass starts from the beginning.
    old = _record(2)
    with connection.cursor() as cursor:
        triggers.remove(connection)
        try:
            cursor.execute(
                "UPDATE audit_event SET at = %s WHERE id IN (%s, %s)",
                [timezone.now() - datetime.timedelta(days=400), old[0].pk, old[1].pk],
            )
        finally:
            triggers.install(connection)
    assert chain.seal_pending(lookback=datetime.timedelta(minutes=10)) == 2


def test_an_event_committed_behind_a_sealed_one_is_sealed_by_the_next_pass(db: None) -> None:
    # PostgreSQL commits ids out of order: the sealer may have sealed a newer event first.
    straggler, newer = _record(2)
    key_id, key = chain.chain_key()
    row = Event.objects.filter(pk=newer.pk).values_list(*chain.FIELDS).get()
    digest = chain.link_hash(key, chain.GENESIS, 1, row)
    Seal.objects.create(seq=1, event=newer, prev_hash=chain.GENESIS, hash=digest, key_id=key_id)
    assert chain.seal_pending(lookback=chain.AFTER_COMMIT_LOOKBACK) == 1
    assert Seal.objects.get(seq=2).event_id == straggler.pk
    _assert_valid_chain()


def test_a_chain_cannot_fork(db: None) -> None:
    from django.db import IntegrityError

    _record(2)
    chain.seal_pending(lookback=None)
    [third] = _record(1)
    # A second successor of the genesis: what a sealer that read a stale head would write.
    with pytest.raises(IntegrityError), transaction.atomic():
        Seal.objects.create(seq=3, event=third, prev_hash=chain.GENESIS, hash="f" * 64, key_id="x")


def test_seals_are_append_only(db: None) -> None:
    from django.db import DatabaseError

    _record(1)
    chain.seal_pending()
    with pytest.raises(DatabaseError), transaction.atomic():
        Seal.objects.filter(seq=1).update(hash="0" * 64)
    with pytest.raises(DatabaseError), transaction.atomic():
        Seal.objects.filter(seq=1).delete()
    assert Seal.objects.get(seq=1).hash != "0" * 64


# --- sealing after commit ----------------------------------------------------------------------


def _sealing_callbacks(callbacks: list[Callable[[], Any]]) -> int:
    return sum(1 for c in callbacks if c is chain._seal_recent)


def test_a_transaction_schedules_one_sealing_pass_however_many_events(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        _record(4)
        events_bulk_record([Event(verb="test.bulk") for _ in range(3)])
    assert _sealing_callbacks(callbacks) == 1


def test_recording_an_event_costs_one_query(db: None, django_assert_num_queries: Any) -> None:
    with transaction.atomic(), django_assert_num_queries(1):
        _record(1)


def test_the_after_commit_pass_seals_what_the_transaction_wrote(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events = _record(3)
    assert set(Seal.objects.values_list("event_id", flat=True)) == {e.pk for e in events}


@pytest.mark.parametrize("count", [1, 200])
def test_the_after_commit_pass_costs_the_same_queries_for_1_or_200_events(
    db: None, count: int
) -> None:
    _record(1)
    chain.seal_pending()
    _record(count)
    with CaptureQueriesContext(connection) as queries:
        chain._seal_recent()
    # Savepoint, lock (PostgreSQL), head, newest sealed id, candidates, insert, release.
    assert len(queries) <= 7
    assert Seal.objects.count() == count + 1


def test_an_event_recorded_outside_a_transaction_is_sealed_at_once(live_db: None) -> None:
    # Autocommit: on_commit runs at once, so the pass must come after the insert, not before.
    event = event_record(actor=None, verb="test.autocommit")
    assert Seal.objects.filter(event=event).exists()


def test_the_scheduled_job_seals_what_is_left(db: None) -> None:
    _record(3)
    assert seal_events.call("2026-03-02T01:00:00+00:00") == 3
    _assert_valid_chain()


# --- concurrency -------------------------------------------------------------------------------

WRITERS = 4
TRANSACTIONS = 10


def _writer(start: threading.Barrier, errors: list[str], n: int) -> None:
    try:
        start.wait(timeout=30)
        for t in range(TRANSACTIONS):
            with transaction.atomic():
                for i in range(3):
                    event_record(actor=None, verb="test.concurrent", object_id=f"{n}-{t}-{i}")
    except BaseException:
        errors.append(traceback.format_exc())
    finally:
        connection.close()


def test_concurrent_writers_end_up_sealed_exactly_once_in_one_chain(live_db: None) -> None:
    start = threading.Barrier(WRITERS)
    errors: list[str] = []
    threads = [threading.Thread(target=_writer, args=(start, errors, n)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    written = set(Event.objects.filter(verb="test.concurrent").values_list("pk", flat=True))
    assert len(written) == WRITERS * TRANSACTIONS * 3
    # The after-commit passes sealed them (a pass that found the lock taken leaves its events to
    # the pass holding it, or to the scheduled job: run it as the scheduler would).
    chain.seal_pending()
    sealed = list(Seal.objects.values_list("event_id", flat=True))
    assert len(sealed) == len(set(sealed))
    assert written <= set(sealed)
    assert set(sealed) == set(Event.objects.values_list("pk", flat=True))
    _assert_valid_chain()
