"""Speed of the closed loop: triage-and-dispatch through the services, and the overdue scan.

    .venv/bin/python bench/bench_loop.py [--leads 100000] [--orders 1000000] [--part both]
                                         [--seed 1] [--database-url URL]

A fresh database is made and migrated (a temporary SQLite file, or a database created next to the
PostgreSQL one the URL names and dropped afterwards), and the demo city is loaded.

Triage and dispatch: ``--leads`` new leads are generated in Xiaonan district
(``bihuan.leads.generator``), then the city supervisor accepts each one with its violation type and
dispatches it, through ``lead_accept`` and ``lead_dispatch``: locks, scope checks, routing, work
orders, deadlines on the working-day calendar, events, joint-operation proposals, notifications.
The baseline is a raw ``bulk_create`` of the same number of work-order rows, timed in the same run.

Overdue scan: dispatched leads are generated until there are ``--orders`` work orders, 0.1 % of
them past their deadline, then ``overdue_scan`` runs twice: the first run urges and escalates the
overdue orders, the second finds nothing left to claim (the cost of every later run). The
baseline is a bare indexed count of the overdue rows.

Figures are printed as ratios to the baseline of the same run; nothing is judged.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scratch import django_on, fresh_databases

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 50_000


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=100_000, help="Leads to triage and dispatch.")
    parser.add_argument("--orders", type=int, default=1_000_000, help="Work orders to scan.")
    parser.add_argument("--part", choices=["triage", "scan", "both"], default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default="", help="A PostgreSQL URL (default: a temporary SQLite file)."
    )
    return parser.parse_args()


def _setup(url: str) -> None:
    """Point Django at ``url``, migrate it and load the demo city."""
    django_on(url)
    from bihuan.demo.loader import load_demo

    load_demo()


def _triage(leads: int, seed: int) -> dict[str, Any]:
    from django.db import transaction

    from bihuan.accounts.models import User
    from bihuan.leads import services
    from bihuan.leads.generator import generate_leads
    from bihuan.leads.models import Lead, WorkOrder
    from bihuan.leads.workflow import OrderStatus
    from bihuan.territory.models import Region

    xiaonan = Region.objects.get(code="420902")
    generate_leads(count=leads, within=xiaonan, seed=seed, overdue_share=0)
    supervisor = User.objects.get(username="supervisor")
    ids = list(Lead.objects.filter(status="new").order_by("pk").values_list("pk", flat=True))
    before = WorkOrder.objects.count()
    start = time.perf_counter()
    for pk in ids:
        lead = Lead.objects.get(pk=pk)
        with transaction.atomic():
            lead = services.lead_accept(
                actor=supervisor, lead=lead, violation_types=list(lead.violation_types.all())
            )
            services.lead_dispatch(actor=supervisor, lead=lead)
    service_seconds = time.perf_counter() - start
    created = list(
        WorkOrder.objects.filter(pk__gt=0)
        .order_by("pk")
        .values("lead_id", "department_id", "role", "reason", "sign_due")[before:]
    )
    # The same rows, inserted raw (withdrawn, so they do not collide with the live orders).
    copies = [WorkOrder(**row, status=OrderStatus.WITHDRAWN, is_synthetic=True) for row in created]
    start = time.perf_counter()
    with transaction.atomic():
        WorkOrder.objects.bulk_create(copies, batch_size=1000)
    bulk_seconds = time.perf_counter() - start
    return {
        "leads": len(ids),
        "orders": len(created),
        "service_seconds": service_seconds,
        "bulk_seconds": bulk_seconds,
    }


def _median_seconds(work: Callable[[], object], runs: int = 5) -> float:
    """The median time of ``runs`` runs of ``work`` (first calls are noisy on a shared machine)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _scan(orders: int, seed: int) -> dict[str, Any]:
    from django.db.models import Q
    from django.utils import timezone

    from bihuan.leads import clock
    from bihuan.leads.generator import generate_leads
    from bihuan.leads.models import WorkOrder
    from bihuan.leads.workflow import OrderStatus
    from bihuan.territory.models import Region

    xiaogan = Region.objects.get(code="420900")
    made = 0
    round_ = 0
    start = time.perf_counter()
    while made < orders:
        # About 1.6 orders per lead: some types have no assisting department in the demo city.
        want = max(1, min(CHUNK, int((orders - made) / 1.6) + 1))
        result = generate_leads(
            count=want,
            status="dispatched",
            within=xiaogan,
            seed=seed + round_,
            overdue_share=0.001,
        )
        made += result.work_orders
        round_ += 1
    generate_seconds = time.perf_counter() - start
    now = timezone.now()
    overdue_q = Q(status=OrderStatus.AWAITING, sign_due__lt=now) | Q(
        status=OrderStatus.SIGNED, reply_due__lt=now
    )

    def count_overdue() -> int:
        return (
            WorkOrder.objects.filter(status=OrderStatus.AWAITING, sign_due__lt=now).count()
            + WorkOrder.objects.filter(status=OrderStatus.SIGNED, reply_due__lt=now).count()
        )

    overdue = count_overdue()  # warms the caches the baseline is then timed with
    count_seconds = _median_seconds(count_overdue)
    start = time.perf_counter()
    first = clock.overdue_scan(now)
    first_seconds = time.perf_counter() - start
    second = clock.overdue_scan(now)
    second_seconds = _median_seconds(lambda: clock.overdue_scan(now))
    assert WorkOrder.objects.filter(overdue_q).count() == overdue
    return {
        "orders": made,
        "overdue": overdue,
        "generate_seconds": generate_seconds,
        "count_seconds": count_seconds,
        "first_seconds": first_seconds,
        "first": first.as_dict(),
        "second_seconds": second_seconds,
        "second": second.as_dict(),
    }


def main() -> None:
    args = _parse()
    with fresh_databases(args.database_url, "loop") as [url]:
        _setup(url)
        from django.db import connection

        print(f"database: {connection.vendor}")
        if args.part in ("triage", "both"):
            r = _triage(args.leads, args.seed)
            print(
                f"triage+dispatch: {r['leads']} leads, {r['orders']} work orders in "
                f"{r['service_seconds']:.1f} s = {r['leads'] / r['service_seconds']:.0f} leads/s, "
                f"{r['orders'] / r['service_seconds']:.0f} orders/s"
            )
            print(
                f"baseline bulk insert of {r['orders']} work-order rows: {r['bulk_seconds']:.2f} s "
                f"= {r['orders'] / r['bulk_seconds']:.0f} rows/s"
            )
            ratio = r["bulk_seconds"] / r["service_seconds"]
            print(f"ratio (bulk seconds / service seconds): {ratio:.4f}")
        if args.part in ("scan", "both"):
            r = _scan(args.orders, args.seed)
            print(
                f"generated {r['orders']} work orders in {r['generate_seconds']:.1f} s; "
                f"{r['overdue']} overdue"
            )
            count_ms = r["count_seconds"] * 1000
            print(f"baseline indexed count of overdue rows (median of 5): {count_ms:.1f} ms")
            print(
                f"first scan (urged {r['first']['urged']}, escalated {r['first']['escalated']}): "
                f"{r['first_seconds']:.2f} s = {r['first_seconds'] / r['count_seconds']:.0f}x"
            )
            print(
                "steady scan, nothing left to claim (median of 5): "
                f"{r['second_seconds'] * 1000:.1f} ms = "
                f"{r['second_seconds'] / r['count_seconds']:.1f}x the count"
            )


if __name__ == "__main__":
    main()
