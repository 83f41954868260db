"""Speed and memory of sealing and verifying the audit log's hash chain, against plain streaming.

    .venv/bin/python bench/bench_audit.py [--events 100000] [--seed 1] [--database-url URL]

A fresh database is made and migrated (a temporary SQLite file, or a database created next to the
PostgreSQL one the URL names and dropped afterwards). A small synthetic province is generated
(``territory_generate``), then dispatched leads (``generate_leads``: each writes its lead event and
up to two work-order events) until the log holds 30,000 events; beyond that it is filled up to
``--events`` with copies of those rows (new ids), doubled in SQL, which is far quicker. The
after-commit sealing passes are switched off meanwhile: the log is as one from before the chain.
Then, each timed, with the peak resident memory of the process during the step:

* baseline — every event row streamed in id order, 2,000 at a time, with the same fields the
  hash covers (``SELECT`` only: what any pass over the log costs);
* seal — ``seal_pending(lookback=None)``: the whole log sealed, batch by batch;
* verify — ``ChainCheck``: every seal walked and its hash recomputed, then the search for
  unsealed events, as ``manage.py verify_audit`` does.

The script prints figures and ratios; it judges nothing: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from scratch import django_on, fresh_databases

PAGE = 2000
# Events written by the project's generators; the rest of the log is copies of them.
GENERATED = 30_000


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--events", type=int, default=100_000, help="Events in the log (at least; default 100,000)."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default="", help="A PostgreSQL URL (default: a temporary SQLite file)."
    )
    return parser.parse_args()


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def _peak_rss() -> Iterator[dict[str, int]]:
    """The process's peak resident memory during the block, sampled every 20 ms."""
    result = {"start": _rss(), "peak": _rss()}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            result["peak"] = max(result["peak"], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result["peak"] = max(result["peak"], _rss())


def _timed(label: str, work: Callable[[], int]) -> tuple[float, int]:
    with _peak_rss() as memory:
        began = time.perf_counter()
        count = work()
        seconds = time.perf_counter() - began
    mib = 1024 * 1024
    peak, grew = memory["peak"] / mib, (memory["peak"] - memory["start"]) / mib
    print(
        f"  {label:<9} {count:>10,} rows {seconds:8.1f} s {count / seconds:>10,.0f} rows/s"
        f"   peak RSS {peak:6.0f} MiB (+{grew:.0f})",
        flush=True,
    )
    return seconds, count


def _generate(target: int, seed: int) -> int:
    from django.db import connection

    from bihuan.audit import chain
    from bihuan.audit.models import Event
    from bihuan.demo.generator import GeneratorParams, territory_generate
    from bihuan.leads.generator import generate_leads
    from bihuan.leads.workflow import LeadStatus

    params = GeneratorParams(
        districts=5, streets=40, communities=400, schools=0, users=500, seed=seed
    )
    chain.AFTER_COMMIT_LIMIT = 0  # a log from before the chain: nothing sealed while writing
    territory_generate(params)
    generated = min(target, GENERATED)
    while (have := Event.objects.count()) < generated:
        # Each dispatched lead writes its event and one or two work-order events.
        generate_leads(
            count=max(1, (generated - have) // 3 + 1),
            status=LeadStatus.DISPATCHED,
            seed=seed + have,
            overdue_share=0,
        )
    chain.AFTER_COMMIT_LIMIT = 10_000
    # Beyond that, copies of the generated rows (new ids), doubling in SQL until the target.
    columns = ", ".join(
        connection.ops.quote_name(f.column) for f in Event._meta.concrete_fields if f.name != "id"
    )
    while (have := Event.objects.count()) < target:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO audit_event ({columns}) SELECT {columns} FROM audit_event"
                f" ORDER BY id LIMIT {target - have}"
            )
    return Event.objects.count()


def _stream() -> int:
    from bihuan.audit import chain
    from bihuan.audit.models import Event

    after, count = 0, 0
    while True:
        rows = list(
            Event.objects.filter(pk__gt=after).order_by("pk").values_list(*chain.FIELDS)[:PAGE]
        )
        if not rows:
            return count
        count += len(rows)
        after = rows[-1][0]


def _seal() -> int:
    from bihuan.audit import chain

    return chain.seal_pending(lookback=None)


def _verify() -> int:
    from bihuan.audit import chain

    check = chain.ChainCheck(grace=datetime.timedelta(0))
    failures = sum(1 for _ in check.failures())
    if failures:
        raise SystemExit(f"verify found {failures} failures in a clean log: {check.counts}")
    return check.seals


def main() -> None:
    args = _parse()
    with fresh_databases(args.database_url, "audit") as (url,):
        django_on(url)
        from django.db import connection

        began = time.perf_counter()
        events = _generate(args.events, args.seed)
        print(
            f"database: {connection.vendor}; {events:,} events generated in "
            f"{time.perf_counter() - began:.0f} s",
            flush=True,
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        _stream()  # warm the caches, as for every later pass
        base, _ = _timed("baseline", _stream)
        seal, sealed = _timed("seal", _seal)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        verify, checked = _timed("verify", _verify)
        if sealed != events or checked != events:
            raise SystemExit(f"sealed {sealed:,}, verified {checked:,} of {events:,} events")
        print(f"  seal   / baseline: {seal / base:.1f}× the time of streaming the rows")
        print(f"  verify / baseline: {verify / base:.1f}× the time of streaming the rows")


if __name__ == "__main__":
    main()
