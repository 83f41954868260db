"""manage.py verify_audit: check the hash chain of the audit log against the rows as they are."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.audit import chain
from bihuan.audit.chain import Failure
from bihuan.audit.services import audit_chain_verify


def _moment(value: str) -> datetime.datetime:
    """A date (midnight, server time zone) or an ISO 8601 date and time."""
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date or an ISO 8601 time") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _minutes(value: str) -> datetime.timedelta:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative")
    return datetime.timedelta(minutes=number)


def _describe(failure: Failure) -> str:
    values = {"seq": failure.seq, "event": failure.event_id}
    if failure.kind == chain.ALTERED:
        return _("Seal %(seq)s: event %(event)s was altered (its hash no longer matches).") % values
    if failure.kind == chain.REMOVED:
        return _("Seal %(seq)s: event %(event)s was removed.") % values
    if failure.kind == chain.REORDERED:
        return (
            _(
                "Seal %(seq)s (event %(event)s): the chain is broken here "
                "(seals removed, reordered or altered before it)."
            )
            % values
        )
    if failure.kind == chain.UNKNOWN_KEY:
        return (
            _("Seal %(seq)s (event %(event)s) was made with a key this server does not have.")
            % values
        )
    return _("Event %(event)s has no seal: it was written behind the log's back.") % values


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident audit log. Walks the hash chain of seals in order and "
        "recomputes each seal's HMAC from the event row as it is now and the previous hash. "
        "Reports every event that was ALTERED (hash mismatch), REMOVED (row missing), every "
        "place where the chain was REORDERED (a broken link to the previous hash or a gap in "
        "the sequence: seals removed or moved), every seal made with an UNKNOWN KEY (set "
        "AUDIT_CHAIN_PREVIOUS_KEYS after a key change), and events older than the grace period "
        "that have no seal (UNSEALED: inserted behind the application's back). Reads in "
        "batches, so memory stays bounded however long the log. Prints the counts checked and "
        "the chain head, records the outcome in the audit log (shown on the audit page), and "
        "exits with status 1 when anything is wrong, 0 otherwise."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--since",
            type=_moment,
            default=None,
            help=(
                "Check only seals made at or after this date or ISO 8601 time (trusting the "
                "stored hash of the seal before), and only unsealed events written since then."
            ),
        )
        parser.add_argument(
            "--seal-first",
            action="store_true",
            help="Seal every event still waiting for a seal (whole log) before verifying.",
        )
        parser.add_argument(
            "--grace-minutes",
            type=_minutes,
            default=datetime.timedelta(hours=1),
            help="Events younger than this may still wait for their seal (default 60).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help=(
                'Print one JSON document, {"failures": [{"kind", "seq", "event"}, …], '
                '"summary": {…}}, streamed as it is found.'
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        as_json = options["json"]
        if options["seal_first"]:
            sealed = chain.seal_pending(lookback=None)
            if not as_json:
                self.stdout.write(_("Sealed %(count)s waiting events.") % {"count": sealed})
        written = 0

        def report(failure: Failure) -> None:
            nonlocal written
            if as_json:
                item = {"kind": failure.kind, "seq": failure.seq, "event": failure.event_id}
                self.stdout.write(("," if written else "") + json.dumps(item))
            else:
                self.stdout.write(_describe(failure))
            written += 1

        if as_json:
            self.stdout.write('{"failures": [')
        check = audit_chain_verify(
            actor=None, since=options["since"], grace=options["grace_minutes"], on_failure=report
        )
        if as_json:
            self.stdout.write('], "summary": ' + json.dumps(check.summary()) + "}")
        else:
            self._summary(check)
        if not check.ok:
            # A non-zero status lets cron and monitoring notice without reading the output.
            sys.exit(1)

    def _summary(self, check: chain.ChainCheck) -> None:
        self.stdout.write(
            _(
                "Checked %(seals)s seals and %(events)s events; last seal %(seq)s, "
                "head hash %(hash)s."
            )
            % {
                "seals": check.seals,
                "events": check.events,
                "seq": check.last_seq or 0,
                "hash": check.head_hash or chain.GENESIS,
            }
        )
        if check.ok:
            self.stdout.write(self.style.SUCCESS(_("The audit log is intact.")))
            return
        counts = check.counts
        self.stdout.write(
            self.style.ERROR(
                _(
                    "The audit log was tampered with: %(altered)s altered, %(removed)s removed, "
                    "%(reordered)s breaks of the chain, %(unsealed)s unsealed, %(unknown)s with "
                    "an unknown key."
                )
                % {
                    "altered": counts[chain.ALTERED],
                    "removed": counts[chain.REMOVED],
                    "reordered": counts[chain.REORDERED],
                    "unsealed": counts[chain.UNSEALED],
                    "unknown": counts[chain.UNKNOWN_KEY],
                }
            )
        )
