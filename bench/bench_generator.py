"""Time the territory generator against a raw bulk insert of the same rows.

    .venv/bin/python bench/bench_generator.py [--scale 0.1] [--seed 1] [--database-url URL]

Two fresh databases are made and migrated: temporary SQLite files by default, or, given a
PostgreSQL URL, two databases created next to the one it names and dropped afterwards. The
generator writes the province into the first (``territory_generate``, timed as a whole: planning,
model instances, bulk_create, the audit event). The baseline writes the same rows into the
second: the same plan built into the same model instances, ids numbered as a fresh table numbers
them, converted to column values beforehand, then timed as one ``cursor.executemany`` per table
in one transaction. Both databases are compared afterwards, so the two sides really wrote the
same rows. The script prints figures and never judges them: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scratch import fresh_databases

ROOT = Path(__file__).resolve().parent.parent
# Volatile columns: timestamps of the moment of writing and the random salt of the password.
VOLATILE = frozenset({"password", "date_joined", "created_at", "at"})


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--scale",
        type=float,
        default=0.1,
        help="Fraction of the province-scale defaults (1 = 100 districts, 100,000 users).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Generator seed (default 1).")
    parser.add_argument(
        "--database-url",
        default="",
        help="A PostgreSQL URL whose server gets two fresh databases; default: SQLite files.",
    )
    return parser.parse_args()


def _setup(generator_url: str, baseline_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = generator_url
    import django
    from django.conf import settings

    from bihuan.core.env import env_database

    settings.DATABASES["baseline"] = env_database("URL", "", environ={"URL": baseline_url})
    django.setup()
    from django.core.management import call_command

    for alias in ("default", "baseline"):
        call_command("migrate", database=alias, verbosity=0)


def _insert_statement(model: type[Any], connection: Any) -> str:
    qn = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(qn(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({marks})"


def _column_values(objs: Sequence[Any], connection: Any) -> list[tuple[Any, ...]]:
    """Each instance as the values Django's bulk insert would send (pre_save, db prep)."""
    fields = type(objs[0])._meta.concrete_fields
    rows = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bench")
        rows.append(tuple(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields))
    return rows


Batch = tuple[type[Any], str, list[tuple[Any, ...]]]


def _baseline_batches(params: Any, connection: Any) -> list[Batch]:
    """The generator's rows as (model, INSERT statement, column values), ids as in fresh tables."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from bihuan.audit.models import Event
    from bihuan.demo.generator import build_objects, plan_territory

    plan = plan_territory(params)
    objects = build_objects(plan, password_hash=make_password(None), now=timezone.now())
    next_id: dict[type[Any], int] = {}
    batches: list[Batch] = []
    for objs in objects.batches():
        if not objs:
            continue
        model = type(objs[0])
        for obj in objs:
            next_id[model] = next_id.get(model, 0) + 1
            obj.pk = next_id[model]
        rows = _column_values(objs, connection)
        batches.append((model, _insert_statement(model, connection), rows))
    province = objects.regions_by_level[0][0]
    event = Event(
        pk=1,
        verb="territory.generated",
        object_type=province._meta.label_lower,
        object_id=str(province.pk),
        object_repr=str(province)[:200],
        after=plan.summary(),
    )
    rows = _column_values([event], connection)
    batches.append((Event, _insert_statement(Event, connection), rows))
    return batches


def _differences(tables: list[type[Any]]) -> list[str]:
    """Tables whose rows differ between the two databases, volatile columns aside."""
    from django.db import connections

    differing = []
    for model in tables:
        columns = [f.column for f in model._meta.concrete_fields if f.column not in VOLATILE]
        query = f"SELECT {', '.join(columns)} FROM {model._meta.db_table} ORDER BY id"
        contents = []
        for alias in ("default", "baseline"):
            with connections[alias].cursor() as cursor:
                cursor.execute(query)
                contents.append(cursor.fetchall())
        if contents[0] != contents[1]:
            differing.append(model._meta.db_table)
    return differing


def _scaled(scale: float, seed: int) -> Any:
    from bihuan.demo.generator import GeneratorParams

    full = GeneratorParams()
    districts = max(1, round(full.districts * scale))
    streets = max(districts, round(full.streets * scale))
    return GeneratorParams(
        districts=districts,
        streets=streets,
        communities=max(streets, round(full.communities * scale)),
        schools=round(full.schools * scale),
        users=round(full.users * scale),
        seed=seed,
    )


def _server(connection: Any) -> str:
    if connection.vendor == "sqlite":
        return f"SQLite {connection.Database.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def _line(label: str, rows: int, seconds: float) -> str:
    return f"{label:<18}{rows:>10,}{seconds:>10.2f}{rows / seconds:>12,.0f}"


def main() -> None:
    args = _parse()
    with fresh_databases(args.database_url, "generator", "baseline") as (
        generator_url,
        baseline_url,
    ):
        _setup(generator_url, baseline_url)
        from django.db import connection, connections, transaction

        from bihuan.demo.generator import plan_territory, territory_generate

        params = _scaled(args.scale, args.seed)
        started = time.perf_counter()
        plan_territory(params)
        planning = time.perf_counter() - started

        started = time.perf_counter()
        generated = territory_generate(params)
        generator_seconds = time.perf_counter() - started

        baseline = connections["baseline"]
        batches = _baseline_batches(params, baseline)
        baseline_rows = sum(len(rows) for _model, _statement, rows in batches)
        started = time.perf_counter()
        with transaction.atomic(using="baseline"), baseline.cursor() as cursor:
            for _model, statement, rows in batches:
                cursor.executemany(statement, rows)
        baseline_seconds = time.perf_counter() - started

        differing = _differences(list(dict.fromkeys(model for model, _s, _r in batches)))

        generator_rate = generated.rows / generator_seconds
        baseline_rate = baseline_rows / baseline_seconds
        print(
            f"Territory generator against raw executemany: scale {args.scale:g}, "
            f"seed {args.seed}, {_server(connection)}"
        )
        print(
            f"parameters: {params.districts} districts, {params.streets:,} streets, "
            f"{params.communities:,} communities, {params.schools:,} schools, "
            f"{params.users:,} users"
        )
        print(f"{'':<18}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
        print(_line("generator", generated.rows, generator_seconds))
        print(f"  of which planning alone {planning:.2f} s")
        print(_line("raw executemany", baseline_rows, baseline_seconds))
        print(f"ratio generator/baseline (rows/s): {generator_rate / baseline_rate:.2f}")
        same = "yes" if not differing else f"NO, they differ in {', '.join(differing)}"
        print(f"same rows in both databases (timestamps and password salt aside): {same}")
        connections.close_all()


if __name__ == "__main__":
    main()
