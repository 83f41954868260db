"""``manage.py verify_audit`` catches every row changed behind the application's back."""

from __future__ import annotations

import datetime
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone, translation

from bihuan.audit import chain, triggers
from bihuan.audit.models import Event, Seal
from bihuan.audit.services import CHAIN_VERIFIED, event_record
from bihuan.audit.tasks import verify_chain


@pytest.fixture
def log(db: None) -> list[Event]:
    """Five sealed events, distinct in verb and content."""
    events = [
        event_record(
            actor=None,
            verb=f"test.step{i}",
            object_type="test",
            object_id=str(i),
            after={"status": f"s{i}", "amount": i * 100},
        )
        for i in range(5)
    ]
    chain.seal_pending(lookback=None)
    return events


@pytest.fixture
def unguarded(log: list[Event]) -> Iterator[Any]:
    """A cursor with the append-only triggers lifted, as an intruder with database access."""
    triggers.remove(connection)
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        triggers.install(connection)


def _verify(*args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    try:
        call_command("verify_audit", "--json", *args, stdout=out)
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    return status, json.loads(out.getvalue())


def _found(report: dict[str, Any]) -> set[tuple[str, int | None]]:
    return {(f["kind"], f["event"]) for f in report["failures"]}


def test_a_clean_log_verifies(log: list[Event]) -> None:
    status, report = _verify()
    assert status == 0
    assert report["failures"] == []
    assert report["summary"]["ok"] is True
    assert report["summary"]["seals"] == report["summary"]["events"] == Seal.objects.count()


def test_an_altered_event_is_caught(log: list[Event], unguarded: Any) -> None:
    unguarded.execute(
        """UPDATE audit_event SET "after" = '{"status": "forged"}' WHERE id = %s""", [log[2].pk]
    )
    status, report = _verify()
    assert status == 1
    assert _found(report) == {(chain.ALTERED, log[2].pk)}


def test_a_removed_event_is_caught(log: list[Event], unguarded: Any) -> None:
    unguarded.execute("DELETE FROM audit_event WHERE id = %s", [log[1].pk])
    status, report = _verify()
    assert status == 1
    assert _found(report) == {(chain.REMOVED, log[1].pk)}


def test_two_events_with_swapped_contents_are_both_caught(log: list[Event], unguarded: Any) -> None:
    a, b = log[1], log[3]
    unguarded.execute(
        'UPDATE audit_event SET verb = %s, object_id = %s, "after" = %s WHERE id = %s',
        [b.verb, b.object_id, json.dumps(b.after), a.pk],
    )
    unguarded.execute(
        'UPDATE audit_event SET verb = %s, object_id = %s, "after" = %s WHERE id = %s',
        [a.verb, a.object_id, json.dumps(a.after), b.pk],
    )
    status, report = _verify()
    assert status == 1
    assert _found(report) == {(chain.ALTERED, a.pk), (chain.ALTERED, b.pk)}


def test_an_event_inserted_without_a_seal_is_caught(log: list[Event], unguarded: Any) -> None:
    unguarded.execute(
        "INSERT INTO audit_event (at, actor_label, verb, object_type, object_id, object_repr)"
        " VALUES (%s, 'intruder', 'test.forged', '', '', '')",
        [timezone.now() - datetime.timedelta(hours=2)],
    )
    forged = Event.objects.get(verb="test.forged").pk
    status, report = _verify()
    assert status == 1
    assert _found(report) == {(chain.UNSEALED, forged)}


def test_a_young_unsealed_event_waits_for_its_seal(log: list[Event]) -> None:
    event_record(actor=None, verb="test.just_now")
    status, report = _verify()
    assert status == 0
    assert report["summary"]["seals"] == len(log)


def test_an_altered_seal_is_caught(log: list[Event], unguarded: Any) -> None:
    unguarded.execute("UPDATE audit_seal SET hash = %s WHERE seq = 3", ["f" * 64])
    status, report = _verify()
    assert status == 1
    # The seal no longer matches its event, and the next seal no longer links to it.
    assert _found(report) == {(chain.ALTERED, log[2].pk), (chain.REORDERED, log[3].pk)}


def test_reordered_seals_are_caught(log: list[Event], unguarded: Any) -> None:
    unguarded.execute("UPDATE audit_seal SET seq = 100 WHERE seq = 2")
    unguarded.execute("UPDATE audit_seal SET seq = 2 WHERE seq = 3")
    unguarded.execute("UPDATE audit_seal SET seq = 3 WHERE seq = 100")
    status, report = _verify()
    assert status == 1
    assert (chain.REORDERED, log[2].pk) in _found(report)


def test_a_removed_seal_leaves_a_gap(log: list[Event], unguarded: Any) -> None:
    unguarded.execute("DELETE FROM audit_seal WHERE seq = 2")
    status, report = _verify("--grace-minutes", "0")
    assert status == 1
    assert _found(report) == {(chain.REORDERED, log[2].pk), (chain.UNSEALED, log[1].pk)}


def test_a_key_change_is_told_apart_from_tampering(log: list[Event]) -> None:
    with override_settings(AUDIT_CHAIN_KEY="a new key"):
        status, report = _verify()
        assert {f["kind"] for f in report["failures"]} == {chain.UNKNOWN_KEY}
        assert status == 1
    with override_settings(
        AUDIT_CHAIN_KEY="a new key", AUDIT_CHAIN_PREVIOUS_KEYS=[settings.SECRET_KEY]
    ):
        assert _verify()[0] == 0


def test_seal_first_seals_the_waiting_events(log: list[Event]) -> None:
    event_record(actor=None, verb="test.waiting")
    status, report = _verify("--seal-first", "--grace-minutes", "0")
    assert status == 0
    assert report["summary"]["seals"] == len(log) + 1


def test_since_checks_only_the_recent_seals(log: list[Event], unguarded: Any) -> None:
    unguarded.execute(
        """UPDATE audit_event SET "after" = '{"status": "forged"}' WHERE id = %s""", [log[0].pk]
    )
    unguarded.execute(
        "UPDATE audit_seal SET sealed_at = %s WHERE seq = 1",
        [timezone.now() - datetime.timedelta(days=3)],
    )
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    status, report = _verify("--since", since)
    assert status == 0
    assert report["summary"]["first_seq"] == 2


def test_the_outcome_is_recorded_in_the_log(log: list[Event]) -> None:
    _verify()
    recorded = Event.objects.get(verb=CHAIN_VERIFIED)
    assert recorded.after is not None
    assert recorded.after["ok"] is True and recorded.after["last_seq"] == len(log)


def test_the_text_report_names_the_kind_and_the_event(log: list[Event], unguarded: Any) -> None:
    unguarded.execute("DELETE FROM audit_event WHERE id = %s", [log[4].pk])
    out = io.StringIO()
    with translation.override("en"), pytest.raises(SystemExit):
        call_command("verify_audit", stdout=out)
    text = out.getvalue()
    assert f"Seal 5: event {log[4].pk} was removed." in text
    assert "Checked 5 seals and 4 events" in text


def test_the_verify_job_records_who_asked(log: list[Event], admin_audit: Any) -> None:
    summary = verify_chain.call(admin_audit.pk)
    assert summary["ok"] is True
    assert Event.objects.get(verb=CHAIN_VERIFIED).actor == admin_audit


def test_help_explains_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--help"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for word in ("ALTERED", "REMOVED", "REORDERED", "UNSEALED", "--since", "--seal-first"):
        assert word in result.stdout
