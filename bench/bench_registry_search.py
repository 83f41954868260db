"""Latency of scoped name search over a large registry.

    .venv/bin/python bench/bench_registry_search.py [--rows 1000000] [--queries 300]
                                                    [--baseline-queries 50] [--seed 1]
                                                    [--database-url URL]

A fresh database is made and migrated: a temporary SQLite file by default, or, given a
PostgreSQL URL, a database created next to the one it names and dropped afterwards. A synthetic
province is generated into it (``territory_generate``, about one community per hundred
institutions), then ``--rows`` institutions are bulk-inserted across its communities and districts.
Their names are assembled from parts whose normal form and pinyin were computed once, so a
million rows take minutes, not hours; a few percent are stored in Traditional characters.

Then, for a district supervisor and for a community coordinator of the province, a few hundred
random queries (names and parts of names, the same in Traditional characters, pinyin initials)
are timed as the list page runs them: ``search_institutions(institutions_current(user), q)``,
counted, and its first page of 50 fetched. The baseline is the same search over the whole
registry without a scope (fewer queries by default: each one scans every row). The script prints
p50 and p95 and never judges them: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scratch import fresh_databases

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000
ROWS_PER_STATEMENT = 1000
PAGE = 50
TRADITIONAL_SHARE = 0.03
DISTRICT_LEVEL_SHARE = 0.1

_BRAND_CHARS = (
    "启明航博学智慧新星育才卓越德阳光睿思乐远优书香领英童心金色彩虹辰晨曦青苗小树春晖知行致"
    "求真弘毅雅尚文华鸿鹄迪未来天快三味桃李墨清风朗月飞竹韵松涛云帆梧桐海燕雏鹰火炬琢玉点石同和悦"
)
_WORD_BRANDS = ("向日葵", "蒲公英", "满天星", "百灵鸟", "小树苗", "七色光", "小海豚", "金钥匙")
_KINDS = (
    "学科辅导中心",
    "教育培训学校",
    "英语培训学校",
    "数学思维培训中心",
    "作文培训学校",
    "美术培训学校",
    "书画艺术中心",
    "舞蹈培训学校",
    "音乐艺术培训中心",
    "钢琴学校",
    "体育俱乐部",
    "篮球训练营",
    "跆拳道馆",
    "游泳俱乐部",
    "机器人编程中心",
    "科技创新教育中心",
    "口才培训中心",
    "围棋培训学校",
    "托管班",
    "学习屋",
)
_CATEGORIES = ("subject", "arts", "sports", "science_tech", "other", "none")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="Institutions (default 1,000,000)."
    )
    parser.add_argument(
        "--queries", type=int, default=300, help="Timed queries per persona (default 300)."
    )
    parser.add_argument(
        "--baseline-queries",
        type=int,
        default=50,
        help="Timed queries without a scope (default 50; each scans the whole registry).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed of the data and the queries.")
    parser.add_argument(
        "--database-url",
        default="",
        help="A PostgreSQL URL whose server gets a fresh database; default: an SQLite file.",
    )
    return parser.parse_args()


def _setup(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Vocabulary:
    """Name parts with their normal form and pinyin computed once."""

    def __init__(self, rng: random.Random) -> None:
        from bihuan.registry.demo import to_traditional
        from bihuan.registry.normalize import normalize_name, pinyin_forms

        chars = _BRAND_CHARS
        pairs = {
            chars[i] + chars[j] for i in range(len(chars)) for j in range(len(chars)) if i != j
        }
        self.brands = sorted(pairs)[:: max(1, len(pairs) // 1500)] + list(_WORD_BRANDS)
        rng.shuffle(self.brands)
        self.parts: dict[str, tuple[str, str, str]] = {}
        self.traditional: dict[str, str] = {}
        for part in [*self.brands, *_KINDS]:
            full, initials = pinyin_forms(part)
            self.parts[part] = (normalize_name(part), full, initials)
            self.traditional[part] = to_traditional(part)

    def add(self, part: str) -> None:
        from bihuan.registry.demo import to_traditional
        from bihuan.registry.normalize import normalize_name, pinyin_forms

        if part not in self.parts:
            full, initials = pinyin_forms(part)
            self.parts[part] = (normalize_name(part), full, initials)
            self.traditional[part] = to_traditional(part)

    def name(self, parts: list[str], traditional: bool) -> tuple[str, str, str, str]:
        """(name as stored, normalised, pinyin, initials) of a name made of known parts."""
        shown = "".join(self.traditional[p] if traditional else p for p in parts)
        forms = [self.parts[p] for p in parts]
        return (
            shown,
            "".join(f[0] for f in forms)[:200],
            "".join(f[1] for f in forms)[:600],
            "".join(f[2] for f in forms)[:200],
        )


def _load_territory(rows: int, seed: int) -> Any:
    from bihuan.demo.generator import GeneratorParams, territory_generate

    communities = max(10, rows // 100)
    districts = max(1, communities // 100)
    streets = max(districts, communities // 10)
    params = GeneratorParams(
        districts=districts,
        streets=streets,
        communities=communities,
        schools=0,
        users=1000,
        seed=seed,
    )
    territory_generate(params)
    return params


def _insert_institutions(rows: int, vocabulary: Vocabulary, rng: random.Random) -> float:
    """Insert the institutions with one executemany per batch (model instances cost too much)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bihuan.registry.models import Institution
    from bihuan.territory.models import Level, Region

    # (community, its district): every generated community sits under a street of a district.
    communities = [
        (pk, int(district or 0))
        for pk, district in Region.objects.filter(level=Level.COMMUNITY).values_list(
            "pk", "parent__parent_id"
        )
    ]
    districts = {}
    for region in Region.objects.filter(level=Level.DISTRICT).only("pk", "name"):
        vocabulary.add(region.name)
        districts[region.pk] = region.name
    fields = [f for f in Institution._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    row_marks = f"({', '.join(['%s'] * len(fields))})"
    statement = (
        f"INSERT INTO {qn(Institution._meta.db_table)} "
        f"({', '.join(qn(f.column) for f in fields)}) VALUES "
        + ", ".join([row_marks] * ROWS_PER_STATEMENT)
    )
    now = timezone.now()
    defaults = {f.attname: f.get_default() for f in fields}
    defaults |= {"created_at": now, "updated_at": now, "source": "generated", "is_synthetic": True}
    prepared = {f.attname: f.get_db_prep_save(defaults[f.attname], connection) for f in fields}
    started = time.perf_counter()
    made = 0
    while made < rows:
        batch = []
        for _i in range(min(BATCH, rows - made)):
            community, district = rng.choice(communities)
            parts = [rng.choice(vocabulary.brands), rng.choice(_KINDS)]
            if rng.random() < 0.3:
                parts.insert(0, districts[district])
            name, normalized, full, initials = vocabulary.name(
                parts, traditional=rng.random() < TRADITIONAL_SHARE
            )
            at_district = rng.random() < DISTRICT_LEVEL_SHARE
            values = prepared | {
                "name": name,
                "name_normalized": normalized,
                "name_pinyin": full,
                "name_initials": initials,
                "category": rng.choice(_CATEGORIES),
                "region_id": district if at_district else community,
                "community_id": None if at_district else community,
                "address": f"{rng.choice(vocabulary.brands)}路{rng.randint(1, 300)}号",
            }
            batch.append(tuple(values[f.attname] for f in fields))
        with transaction.atomic(), connection.cursor() as cursor:
            # Many rows per INSERT: one round trip each, under SQLite's limit of 32,766 values.
            whole = len(batch) - len(batch) % ROWS_PER_STATEMENT
            cursor.executemany(
                statement,
                [
                    [v for row in batch[i : i + ROWS_PER_STATEMENT] for v in row]
                    for i in range(0, whole, ROWS_PER_STATEMENT)
                ],
            )
            if whole < len(batch):
                rest = batch[whole:]
                cursor.execute(
                    statement.split(" VALUES ")[0]
                    + " VALUES "
                    + ", ".join([row_marks] * len(rest)),
                    [v for row in rest for v in row],
                )
        made += len(batch)
        print(f"\r  {made:,} institutions", end="", flush=True)
    print()
    return time.perf_counter() - started


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _queries(vocabulary: Vocabulary, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) of random queries as people type them."""
    result = []
    for _i in range(count):
        brand, kind = rng.choice(vocabulary.brands), rng.choice(_KINDS)
        roll = rng.random()
        if roll < 0.35:
            result.append(("name part", brand))
        elif roll < 0.55:
            result.append(("name", brand + kind[:2]))
        elif roll < 0.75:
            result.append(
                ("traditional", vocabulary.traditional[brand] + vocabulary.traditional[kind][:2])
            )
        else:
            initials = vocabulary.parts[brand][2] + vocabulary.parts[kind][2][:2]
            result.append(("initials", initials))
    return result


def _time(run: Callable[[str], Any], queries: list[tuple[str, str]]) -> list[float]:
    timings = []
    for _kind, text in queries:
        started = time.perf_counter()
        run(text)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _percentiles(timings: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return cuts[49], cuts[94]


def _server(connection: Any) -> str:
    if connection.vendor == "sqlite":
        return f"SQLite {connection.Database.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def main() -> None:
    args = _parse()
    rng = random.Random(args.seed)
    with fresh_databases(args.database_url, "search") as [url]:
        _setup(url)
        from django.db import connection

        from bihuan.accounts.models import Assignment, Role, User
        from bihuan.registry.models import Institution
        from bihuan.registry.search import search_institutions
        from bihuan.registry.selectors import institutions_current
        from bihuan.territory.models import Level

        started = time.perf_counter()
        params = _load_territory(args.rows, args.seed)
        territory_seconds = time.perf_counter() - started
        vocabulary = Vocabulary(rng)
        insert_seconds = _insert_institutions(args.rows, vocabulary, rng)
        _analyze()

        def persona(role: str, level: str) -> User:
            assignment = (
                Assignment.objects.filter(role=role, region__level=level, is_active=True)
                .select_related("user")
                .order_by("pk")
                .first()
            )
            assert assignment is not None, f"no {role} at a {level}"
            return assignment.user

        def page(qs: Any) -> None:
            qs.count()
            list(qs[:PAGE])

        print(
            f"Scoped institution search: {args.rows:,} institutions, {_server(connection)}; "
            f"territory of {params.districts} districts, {params.streets:,} streets, "
            f"{params.communities:,} communities (generated in {territory_seconds:.1f} s), "
            f"institutions inserted in {insert_seconds:.1f} s"
        )
        queries = _queries(vocabulary, args.queries, rng)
        kinds = sorted({k for k, _t in queries})
        print(
            f"queries: {len(queries)} per persona ({', '.join(kinds)}); timed: count + first "
            f"page of {PAGE}, in ms"
        )
        print(f"{'':<24}{'in scope':>10}{'p50':>9}{'p95':>9}{'max':>9}")
        results: dict[str, tuple[float, float]] = {}
        for label, role, level in (
            ("district supervisor", Role.SUPERVISOR, Level.DISTRICT),
            ("community coordinator", Role.COORDINATOR, Level.COMMUNITY),
        ):
            user = persona(role, level)
            in_scope = institutions_current(user).count()

            def scoped(q: str, user: User = user) -> None:
                page(search_institutions(institutions_current(user), q))

            timings = _time(scoped, queries)
            p50, p95 = _percentiles(timings)
            results[label] = (p50, p95)
            print(f"{label:<24}{in_scope:>10,}{p50:>9.1f}{p95:>9.1f}{max(timings):>9.1f}")
        everything = Institution.objects.filter(merged_into__isnull=True)
        baseline = _time(
            lambda q: page(search_institutions(everything, q)), queries[: args.baseline_queries]
        )
        b50, b95 = _percentiles(baseline)
        print(
            f"{'no scope (baseline)':<24}{args.rows:>10,}{b50:>9.1f}{b95:>9.1f}"
            f"{max(baseline):>9.1f}  ({len(baseline)} queries)"
        )
        for label, (p50, p95) in results.items():
            print(f"ratio {label} / baseline: p50 {p50 / b50:.3f}, p95 {p95 / b95:.3f}")
        from django.db import connections

        connections.close_all()


if __name__ == "__main__":
    main()
