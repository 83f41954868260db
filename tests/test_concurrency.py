"""Eight writers at once through the real services, on SQLite as on PostgreSQL.

With Django's defaults, SQLite transactions are DEFERRED: two transactions that read and then
write both hold a read snapshot, the second to write cannot upgrade it, and SQLite answers
"database is locked" at once, whatever the timeout. Bihuan opens SQLite transactions IMMEDIATE
(the write lock is taken at BEGIN, where the busy timeout applies) on a WAL journal, so writers
queue instead of failing. These tests hold the configuration to that promise.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import traceback
from collections import Counter

from django.db import connection, transaction

from bihuan.audit.models import Event
from bihuan.audit.services import event_record
from bihuan.demo.data import GUANGCHANG, QIANKUN
from bihuan.territory.models import Region
from bihuan.territory.services import region_upsert

WRITERS = 8
ROUNDS = 25  # per writer: 10 new communities, 10 renames of one community, 5 plain events
FIRST_NEW_COMMUNITY = 100


def _kind(round_: int) -> str:
    return ("create", "create", "rename", "rename", "event")[round_ % 5]


def _new_code(writer: int, created: int) -> str:
    return f"{GUANGCHANG[:9]}{FIRST_NEW_COMMUNITY + writer * 10 + created:03d}"


def _write(writer: int, round_: int, created: int) -> None:
    """One write transaction of the given round, each of them reading before it writes."""
    kind = _kind(round_)
    if kind == "create":
        _, outcome = region_upsert(
            actor=None,
            code=_new_code(writer, created),
            name=f"并发社区{writer}-{created}",
            level="community",
            parent_code=GUANGCHANG,
            is_synthetic=True,
        )
        assert outcome == "created"
    elif kind == "rename":
        _, outcome = region_upsert(
            actor=None,
            code=QIANKUN,
            name=f"乾坤社区·{writer}·{round_}",
            level="community",
            parent_code=GUANGCHANG,
            is_synthetic=True,
        )
        assert outcome == "updated"
    else:
        with transaction.atomic():
            region = Region.objects.get(code=QIANKUN)
            event_record(actor=None, verb="test.concurrent", obj=region, after={"round": round_})


def _writer(writer: int, start: threading.Barrier, waits: list[float], errors: list[str]) -> None:
    try:
        start.wait(timeout=30)
        created = 0
        for round_ in range(ROUNDS):
            began = time.perf_counter()
            _write(writer, round_, created)
            waits.append(time.perf_counter() - began)
            created += _kind(round_) == "create"
    except BaseException:
        errors.append(f"writer {writer}:\n{traceback.format_exc()}")
    finally:
        connection.close()


def _assert_sqlite_queues_writers() -> None:
    """WAL journal, a busy timeout, and a transaction that holds the write lock from BEGIN."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
    assert connection.transaction_mode == "IMMEDIATE"  # type: ignore[attr-defined]
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        with transaction.atomic():
            Region.objects.filter(code=QIANKUN).exists()  # a read only: DEFERRED would lock nothing
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
            else:
                raise AssertionError("a second writer got the write lock during our transaction")
    finally:
        other.close()


def test_eight_writers_that_read_first_all_commit(live_db: None, demo_city: dict[str, int]) -> None:
    if connection.vendor == "sqlite":
        _assert_sqlite_queues_writers()
    verbs_before = Counter(Event.objects.values_list("verb", flat=True))
    regions_before = Region.objects.count()
    start = threading.Barrier(WRITERS)
    waits: list[float] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_writer, args=(n, start, waits, errors), name=f"writer-{n}")
        for n in range(WRITERS)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.perf_counter() - began

    assert not [t.name for t in threads if t.is_alive()]
    assert errors == [], "\n".join(errors)
    assert len(waits) == WRITERS * ROUNDS
    print(
        f"\n{connection.vendor}: {len(waits)} transactions by {WRITERS} writers in {elapsed:.2f} s;"
        f" longest transaction {max(waits) * 1000:.0f} ms,"
        f" median {sorted(waits)[len(waits) // 2] * 1000:.0f} ms"
    )
    new_codes = [_new_code(w, c) for w in range(WRITERS) for c in range(10)]
    assert Region.objects.filter(code__in=new_codes, parent__code=GUANGCHANG).count() == 80
    assert Region.objects.count() == regions_before + 80
    verbs_after = Counter(Event.objects.values_list("verb", flat=True))
    assert verbs_after - verbs_before == Counter(
        {"region.created": 80, "region.updated": 80, "test.concurrent": 40}
    )


def test_concurrent_renames_each_start_from_the_name_the_last_one_left(
    live_db: None, demo_city: dict[str, int]
) -> None:
    start = threading.Barrier(WRITERS)
    errors: list[str] = []

    def renamer(writer: int) -> None:
        try:
            start.wait(timeout=30)
            for round_ in range(ROUNDS):
                region_upsert(
                    actor=None,
                    code=QIANKUN,
                    name=f"乾坤社区·{writer}·{round_}",
                    level="community",
                    parent_code=GUANGCHANG,
                    is_synthetic=True,
                )
        except BaseException:
            errors.append(f"writer {writer}:\n{traceback.format_exc()}")
        finally:
            connection.close()

    threads = [threading.Thread(target=renamer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == [], "\n".join(errors)
    region = Region.objects.get(code=QIANKUN)
    renames = list(
        Event.objects.filter(verb="region.updated", object_id=str(region.pk)).order_by("id")
    )
    assert len(renames) == WRITERS * ROUNDS
    names = ["乾坤社区"] + [(event.after or {}).get("name") for event in renames]
    assert [(event.before or {}).get("name") for event in renames] == names[:-1]
    assert region.name == names[-1]
