"""Speed of the five headline figures from the rollups, against full scans of the same data.

    .venv/bin/python bench/bench_figures.py [--small] [--leads 1000000] [--events 10000000]
                                            [--repeat 5] [--seed 1] [--database-url URL]

A fresh database is made and migrated (a temporary SQLite file, or a database created next to the
PostgreSQL one the URL names and dropped afterwards). Data, at national-ish scale by default:

* a synthetic province (``territory_generate``: 100 districts, 1,500 streets, 20,000 communities)
  and its institutions (``institutions_generate``, 100,000);
* ``--leads`` dispatched leads with their work orders and events (``generate_leads``), their
  creation spread over this year, day by day;
* one disguised-tutoring case concluded for every 20th lead, a verified refund for every 2nd case;
* as many approved inspections as leads, each with its inspector, over this year;
* events: those of the generators, then inspection events until the log holds ``--events`` rows.

Then the rollups are built (``rollups.refresh(full=True)``, timed) and, warm, with the median of
``--repeat`` runs, three ways of answering the figures of the whole province for the year and of
one district for one month are timed:

* ``headline`` — the rollups (what the pages call);
* ``recount`` — the same figures straight from the records, through their indexes;
* full scan — one raw GROUP BY over the whole event log for the period (``verb`` × count), the
  way figures are compiled without rollups; its ratio is the one the goal (≥ 20×) is about.

The script prints figures and ratios; it judges nothing: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from scratch import django_on, fresh_databases

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--small", action="store_true", help="A quick run: 20,000 leads, 200,000 events."
    )
    parser.add_argument("--leads", type=int, default=1_000_000, help="Leads (and inspections).")
    parser.add_argument("--events", type=int, default=10_000_000, help="Rows in the event log.")
    parser.add_argument("--repeat", type=int, default=5, help="Warm runs per timing (median).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default="", help="A PostgreSQL URL (default: a temporary SQLite file)."
    )
    args = parser.parse_args()
    if args.small:
        args.leads, args.events = 20_000, 200_000
    return args


def _setup(url: str) -> None:
    django_on(url)


def _step(label: str, work: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = work()
    print(f"  {label}: {time.perf_counter() - began:.1f} s", flush=True)
    return result


def _median(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    work()  # warm the caches
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def _territory(small: bool, seed: int) -> Any:
    from bihuan.demo.generator import GeneratorParams, territory_generate
    from bihuan.registry.generator import RegistryParams, institutions_generate

    params = (
        GeneratorParams(districts=5, streets=40, communities=400, schools=0, users=500, seed=seed)
        if small
        else GeneratorParams(
            districts=100, streets=1500, communities=20000, schools=0, users=5000, seed=seed
        )
    )
    province = territory_generate(params).province
    count = 5_000 if small else 100_000
    institutions_generate(within=province, params=RegistryParams(count=count, seed=seed))
    return province


def _days(year_start: datetime.date, today: datetime.date) -> list[datetime.datetime]:
    from zoneinfo import ZoneInfo

    local = ZoneInfo("Asia/Shanghai")
    return [
        datetime.datetime.combine(
            year_start + datetime.timedelta(days=i), datetime.time(10), tzinfo=local
        )
        for i in range((today - year_start).days)
    ]


def _spread_leads(days: list[datetime.datetime]) -> None:
    """Give the generated leads creation days over the year, in id order (as they would come)."""
    from django.db.models import Max, Min

    from bihuan.leads.models import Lead

    got = Lead.objects.aggregate(low=Min("pk"), high=Max("pk"))
    low, high = got["low"], got["high"] + 1
    step = max(1, (high - low) // len(days) + 1)
    for i, at in enumerate(days):
        Lead.objects.filter(pk__gte=low + i * step, pk__lt=low + (i + 1) * step).update(
            created_at=at
        )


def _cases(days: list[datetime.datetime], rng: random.Random) -> tuple[int, int]:
    """A concluded disguised case for every 20th lead, a verified refund for every 2nd case."""
    from bihuan.accounts.models import User
    from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus
    from bihuan.leads.models import Lead

    verifier = User.objects.order_by("pk").first()
    leads = Lead.objects.order_by("pk").values_list(
        "pk", "region_id", "owner_department_id", "created_at"
    )
    cases: list[Case] = []
    for n, (pk, region, dept, created) in enumerate(leads.iterator(chunk_size=BATCH)):
        if n % 20:
            continue
        later = [d for d in days if d > created][:60] or [days[-1]]
        cases.append(
            Case(
                lead_id=pk,
                region_id=region,
                department_id=dept,
                status=CaseStatus.CONCLUDED,
                concluded_at=rng.choice(later),
                is_disguised=True,
            )
        )
    Case.objects.bulk_create(cases, batch_size=5000)
    refunds = [
        Refund(
            case=case,
            amount_fen=rng.randint(10_000, 5_000_000),
            families=rng.randint(1, 40),
            status=RefundStatus.VERIFIED,
            reported_by=verifier,
            verified_by=verifier,
            verified_at=case.concluded_at,
        )
        for case in cases[::2]
    ]
    Refund.objects.bulk_create(refunds, batch_size=5000)
    return len(cases), len(refunds)


def _inspections(
    count: int, days: list[datetime.datetime], rng: random.Random, province: Any
) -> int:
    """Approved on-site visits of the registry's institutions over the year, one inspector each."""
    from bihuan.accounts.models import User
    from bihuan.registry.models import Institution
    from bihuan.screening.models import Inspection, InspectionParticipant, Round, Task
    from bihuan.screening.tests.factories import checklist
    from bihuan.screening.workflow import InspectionStatus, TaskKind, VisitOutcome

    inspector = User.objects.earliest("pk")
    version = checklist(code="bench")
    today = days[-1].date()
    round_ = Round.objects.create(
        name="bench", region=province, checklist=version, starts_on=days[0].date(), ends_on=today
    )
    task = Task.objects.create(
        round=round_, inspector=inspector, kind=TaskKind.INSTITUTIONS, region=province
    )
    places = list(Institution.objects.values_list("pk", "region_id"))
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        rows = []
        for _ in range(size):
            inst, region = places[rng.randrange(len(places))]
            at = rng.choice(days) + datetime.timedelta(minutes=rng.randrange(600))
            rows.append(
                Inspection(
                    client_id=uuid.uuid4(),
                    task=task,
                    institution_id=inst,
                    region_id=region,
                    checklist=version,
                    inspector=inspector,
                    status=InspectionStatus.APPROVED,
                    outcome=VisitOutcome.VISITED if rng.random() < 0.9 else VisitOutcome.CLOSED,
                    version=1,
                    visited_at=at,
                    submitted_at=at,
                    approved_at=at,
                )
            )
        Inspection.objects.bulk_create(rows, batch_size=5000)
        InspectionParticipant.objects.bulk_create(
            [InspectionParticipant(inspection=i, user=inspector) for i in rows], batch_size=5000
        )
        done += size
    return done


def _pad_events(target: int, days: list[datetime.datetime]) -> int:
    """Inspection events (drafts, photos, submissions, approvals) until the log holds ``target``.

    Their times run over the year in id order, as a log fills. The log is append-only (a trigger
    refuses updates), so the times are written on insert, past the field's ``auto_now_add``.
    """
    from django.db.models import Max, Min

    from bihuan.audit.models import Event
    from bihuan.screening.models import Inspection

    have = Event.objects.count()
    got = Inspection.objects.aggregate(low=Min("pk"), high=Max("pk"))
    low, span = got["low"], got["high"] - got["low"] + 1
    verbs = (
        "inspection.draft_saved",
        "inspection.photo_added",
        "inspection.submitted",
        "inspection.approved",
    )
    stamp = Event._meta.get_field("at")
    stamp.auto_now_add = False  # type: ignore[attr-defined]
    per_day = max(1, (target - have) // len(days) + 1)
    written = 0
    while have + written < target:
        size = min(BATCH, target - have - written)
        Event.objects.bulk_create(
            [
                Event(
                    verb=verbs[(written + i) % len(verbs)],
                    object_type="screening.inspection",
                    object_id=str(low + (written + i) % span),
                    actor_label="bench",
                    at=days[min((written + i) // per_day, len(days) - 1)],
                )
                for i in range(size)
            ],
            batch_size=5000,
        )
        written += size
    stamp.auto_now_add = True  # type: ignore[attr-defined]
    return written


def _full_scan(start: datetime.date, end: datetime.date) -> list[tuple[Any, ...]]:
    """The figures' raw material counted the unindexed way: the event log grouped by verb."""
    from django.db import connection

    from bihuan.audit.models import Event
    from bihuan.screening.figures import _bounds

    low, high = _bounds(start, end)
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT verb, COUNT(*) FROM {table} WHERE at >= %s AND at < %s GROUP BY verb",
            [low, high],
        )
        return cursor.fetchall()


def main() -> None:
    args = _parse()
    rng = random.Random(args.seed)  # synthetic data, reproducible by seed
    with fresh_databases(args.database_url, "figures") as (url,):
        _setup(url)
        from django.db import connection
        from django.utils import timezone

        from bihuan.audit.models import Event
        from bihuan.leads.generator import generate_leads
        from bihuan.leads.workflow import LeadStatus
        from bihuan.reports import figures, rollups
        from bihuan.reports.scope import FigureScope
        from bihuan.territory.models import Level, Region

        print(f"database: {connection.vendor}; leads {args.leads:,}, events {args.events:,}")
        today = timezone.localdate()
        year_start = datetime.date(today.year, 1, 1)
        days = _days(year_start, today)
        province = _step("territory and institutions", lambda: _territory(args.small, args.seed))
        _step(
            "leads",
            lambda: generate_leads(
                count=args.leads, status=LeadStatus.DISPATCHED, seed=args.seed, overdue_share=0
            ),
        )
        _step("spread leads over the year", lambda: _spread_leads(days))
        made = _step("cases and refunds", lambda: _cases(days, rng))
        _step("inspections", lambda: _inspections(args.leads, days, rng, province))
        _step("events", lambda: _pad_events(args.events, days))
        print(f"  cases {made[0]:,}, refunds {made[1]:,}, events {Event.objects.count():,}")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        _step("build rollups", lambda: rollups.refresh(full=True, lag=datetime.timedelta(0)))
        district = Region.objects.filter(level=Level.DISTRICT).order_by("code").first()
        assert district is not None
        month = rollups.unit_bounds("m", today.replace(day=1) - datetime.timedelta(days=1))
        cases = [
            (
                "province, year",
                FigureScope("region", province.pk, province.name, province.path),
                (year_start, datetime.date(today.year, 12, 31)),
            ),
            (
                "district, month",
                FigureScope("region", district.pk, district.name, district.path),
                month,
            ),
        ]
        head = ["headline", "recount", "full scan", "vs recount", "vs scan"]
        print(" " * 18 + "".join(f"{h:>12}" for h in head))
        for label, scope, (start, end) in cases:
            fast, got = _median(partial(figures.headline, scope, start, end), args.repeat)
            fewer = max(1, args.repeat // 2)
            slow, want = _median(partial(figures.recount, scope, start, end), fewer)
            scan, _ = _median(partial(_full_scan, start, end), fewer)
            assert got == want, (got, want)
            print(
                f"{label:18}{fast * 1000:>10.1f}ms{slow * 1000:>10.1f}ms{scan * 1000:>10.1f}ms"
                f"{slow / fast:>11.0f}×{scan / fast:>11.0f}×"
            )
            print(f"  {got}")


if __name__ == "__main__":
    main()
