"""Speed of round generation for a province: tables for every institution, balanced and rotated.

    .venv/bin/python bench/bench_screening.py [--institutions 150000] [--communities 20000]
                                              [--inspectors 100000] [--small] [--seed 1]
                                              [--database-url URL]

A fresh database is made and migrated (a temporary SQLite file, or a database created next to the
PostgreSQL one the URL names and dropped afterwards); migration publishes the default checklist.
A synthetic province is generated into it (``bihuan.demo.generator``: 100 districts, 1,500
streets, ``--communities`` communities and ``--inspectors`` inspector accounts held at community
level), then ``--institutions`` institutions are spread over its communities
(``bihuan.registry.generator``).

The province's supervisor then opens a province-wide round through ``round_open``: scope and
checklist checks, the set-based gathering of risk facts and pools, the assignment (balance within
each community, rotation), the bulk inserts of tasks and items, the audit event. That is timed
twice: a first round (nobody has a last round yet) and, after the first is marked issued, a second
one that has to rotate every inspector away from last round's institutions.

The baseline is a raw ``bulk_create`` of the same Task and TaskItem rows as the first round, into
a round of their own, timed in the same run (the model instances are built off the clock). Peak
memory is measured separately, with tracemalloc, over one more planning pass (reads only), so
that tracing does not slow the timed runs; the process's peak resident size is printed too.
Figures are printed, with the ratio to the baseline; nothing is judged.
"""

from __future__ import annotations

import argparse
import datetime
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

from scratch import django_on, fresh_databases

ROOT = Path(__file__).resolve().parent.parent
BATCH = 5000


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--institutions", type=int, default=150_000)
    parser.add_argument("--communities", type=int, default=20_000)
    parser.add_argument("--inspectors", type=int, default=100_000)
    parser.add_argument(
        "--small",
        action="store_true",
        help="A quick run: 1,500 institutions, 200 communities, 1,000 inspectors.",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default="", help="A PostgreSQL URL (default: a temporary SQLite file)."
    )
    args = parser.parse_args()
    if args.small:
        args.institutions, args.communities, args.inspectors = 1_500, 200, 1_000
    return args


def _setup(url: str) -> None:
    django_on(url)


def _province(args: argparse.Namespace) -> Any:
    from bihuan.demo.generator import GeneratorParams, territory_generate
    from bihuan.registry.generator import RegistryParams, institutions_generate

    districts = max(1, min(100, args.communities // 200))
    streets = max(districts, min(1500, args.communities // 13))
    params = GeneratorParams(
        districts=districts,
        streets=streets,
        communities=args.communities,
        schools=0,
        # The other roles (supervisors, officers, coordinators) come out of this budget.
        users=max(200, args.communities // 3),
        inspectors=args.inspectors,
        seed=args.seed,
    )
    start = time.perf_counter()
    generated = territory_generate(params)
    territory_seconds = time.perf_counter() - start
    start = time.perf_counter()
    institutions_generate(
        within=generated.province,
        params=RegistryParams(count=args.institutions, seed=args.seed),
    )
    registry_seconds = time.perf_counter() - start
    print(
        f"province: {generated.counts['communities']} communities, "
        f"{generated.roles.get('inspector', 0)} inspectors ({territory_seconds:.1f} s); "
        f"{args.institutions} institutions ({registry_seconds:.1f} s)"
    )
    return generated.province


def _open(province: Any, actor: Any, checklist: Any, name: str) -> tuple[Any, float]:
    from bihuan.screening import round_services

    today = datetime.date(2026, 10, 1)
    start = time.perf_counter()
    round_ = round_services.round_open(
        actor=actor,
        region=province,
        name=name,
        starts_on=today,
        ends_on=today + datetime.timedelta(days=90),
        checklist=checklist,
    )
    return round_, time.perf_counter() - start


def _baseline(round_: Any) -> tuple[float, int, int]:
    """Seconds to bulk_create copies of the round's tasks and items into a round of their own."""
    from django.db import transaction

    from bihuan.screening.models import Round, Task, TaskItem

    copy = Round.objects.create(
        name="baseline",
        region_id=round_.region_id,
        checklist_id=round_.checklist_id,
        starts_on=round_.starts_on,
        ends_on=round_.ends_on,
    )
    tasks = {
        pk: Task(round=copy, inspector_id=inspector, kind=kind, region_id=region)
        for pk, inspector, kind, region in Task.objects.filter(round=round_).values_list(
            "pk", "inspector_id", "kind", "region_id"
        )
    }
    fields = (
        "task_id",
        "institution_id",
        "position",
        "risk",
        "open_leads",
        "past_violations",
        "days_since_inspection",
        "previous_inspector_id",
    )
    rows = list(TaskItem.objects.filter(round=round_).values_list(*fields).iterator(BATCH))
    with transaction.atomic():
        start = time.perf_counter()
        Task.objects.bulk_create(list(tasks.values()), batch_size=BATCH)
        seconds = time.perf_counter() - start
        # The items are built between the two timed inserts: they need the new tasks' ids.
        items = [
            TaskItem(
                round_id=copy.pk,
                task_id=tasks[row[0]].pk,
                **dict(zip(fields[1:], row[1:], strict=True)),
            )
            for row in rows
        ]
        start = time.perf_counter()
        TaskItem.objects.bulk_create(items, batch_size=BATCH)
        seconds += time.perf_counter() - start
    return seconds, len(tasks), len(items)


def _peak_planning(round_: Any) -> int:
    """Peak traced memory (bytes) of planning a round again (reads only)."""
    from bihuan.screening import generation

    tracemalloc.start()
    generation.plan_round(round_)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _line(label: str, seconds: float, tasks: int, items: int) -> str:
    return (
        f"{label}: {tasks} tasks, {items} items in {seconds:.2f} s = "
        f"{tasks / seconds:.0f} tasks/s, {items / seconds:.0f} items/s"
    )


def main() -> None:
    args = _parse()
    with fresh_databases(args.database_url, "screening") as [url]:
        _setup(url)
        from django.db import connection
        from django.utils import timezone

        from bihuan.accounts.models import Assignment, Role
        from bihuan.screening.models import Round, Task
        from bihuan.screening.selectors import published_checklists
        from bihuan.screening.workflow import RoundStatus

        print(f"database: {connection.vendor}")
        province = _province(args)
        actor = (
            Assignment.objects.select_related("user")
            .get(role=Role.SUPERVISOR, region=province)
            .user
        )
        checklist = published_checklists().get(template__code="default")

        first, first_seconds = _open(province, actor, checklist, "第1期")
        first_tasks = Task.objects.filter(round=first).count()
        first_items = first.summary["assigned"]
        print(_line("round 1 (no last round)", first_seconds, first_tasks, first_items))
        print(
            f"  institutions {first.summary['institutions']}, unstaffed "
            f"{len(first.summary['unstaffed'])}, taken by a street or district inspector "
            f"{first.summary['fallback']}"
        )
        bulk_seconds, bulk_tasks, bulk_items = _baseline(first)
        print(_line("baseline bulk_create of the same rows", bulk_seconds, bulk_tasks, bulk_items))
        print(f"ratio (bulk seconds / round_open seconds): {bulk_seconds / first_seconds:.3f}")

        Round.objects.filter(pk=first.pk).update(
            status=RoundStatus.ISSUED, issued_at=timezone.now()
        )
        second, second_seconds = _open(province, actor, checklist, "第2期")
        second_tasks = Task.objects.filter(round=second).count()
        print(
            _line(
                "round 2 (rotating away from round 1)",
                second_seconds,
                second_tasks,
                second.summary["assigned"],
            )
        )
        print(
            f"  same inspector as last round: {second.summary['repeats']} of "
            f"{second.summary['assigned']}"
        )
        print(f"ratio (bulk seconds / round 2 seconds): {bulk_seconds / second_seconds:.3f}")

        peak = _peak_planning(second)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak traced memory of planning: {peak / 2**20:.0f} MiB")
        print(f"peak resident size of the process (whole run): {maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
