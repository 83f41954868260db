"""Time the registry import against a raw Django bulk_create of the same rows; show its memory.

    .venv/bin/python bench/bench_registry_import.py [--big] [--seed 1] [--database-url URL]

For each size (10,000 and 100,000 rows; with ``--big`` also 1,000,000) a deterministic CSV of
institutions in 孝南区 is generated on disk: names, valid credit codes, licence numbers, phones,
addresses naming communities, division codes of communities and streets, positions; 2% of the
rows have no key, so the matcher runs on them. The territory is the demo city plus 50 synthetic
streets of 100 communities each, with outlines, so rows spread as thinly as in a real district.
The file goes through the real code path, timed by phase:
``institution_import_create`` (the upload: size, encoding and header checks, the file kept),
``institution_import_check`` (the dry run) and ``institution_import_apply``, called directly as
the tasks would. The baseline then writes the very rows the import created (read back, untimed)
into a second fresh database: ``Institution(**values)`` and ``bulk_create`` in batches of the same
size, in one transaction, timed. Peak memory is the process's peak resident set during the
import (reset before each size; Linux), or, with ``--tracemalloc``, the peak of Python
allocations (which slows everything, so the timings are then not comparable).

Two databases are made and migrated: temporary SQLite files by default, or, given a PostgreSQL
URL, two databases created next to the one it names and dropped afterwards. The script prints
figures and never judges them: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scratch import fresh_databases

ROOT = Path(__file__).resolve().parent.parent
KEYLESS_SHARE = 0.02
BATCH = 2000

_BRANDS = "晨曦启航博雅飞跃阳光星辰智慧新苗春蕾金桥明德育才小天才乐学卓越优才童心"
_PLACES = "安宁和平康乐兴华文昌新丰泰清河山湖林福瑞东南西北长春永成建民荣嘉禾云溪松柏"
_KINDS = (
    "教育培训学校",
    "艺术培训中心",
    "体育俱乐部",
    "科技工作室",
    "英语培训学校有限公司",
    "美术工作室",
    "书法培训中心",
    "舞蹈艺术学校",
)
_CATEGORIES = ("学科类", "艺术", "体育", "科技", "其他", "无证")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
_ROADS = ("体育路", "光明路", "城站路", "槐荫大道", "北京路", "长征路", "交通大道")
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# The demo city plus a synthetic part of 孝南区 with realistic density: STREETS streets of
# COMMUNITIES communities each, every community with a square outline on a grid.
STREETS, COMMUNITIES = 50, 100
_ORIGIN, _STEP, _HALF = (113.80, 30.80), 0.002, 0.0009


def _community_code(street: int, community: int) -> str:
    return f"420902{street + 10:03d}{community + 1:03d}"


def _centre(index: int) -> tuple[float, float]:
    return _ORIGIN[0] + (index % 100) * _STEP, _ORIGIN[1] + (index // 100) * _STEP


def _community_name(index: int) -> str:
    first, second = divmod(index, len(_PLACES))
    return f"{_PLACES[first % len(_PLACES)]}{_PLACES[second]}{index}社区"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--big", action="store_true", help="Also import 1,000,000 rows.")
    parser.add_argument(
        "--sizes", default="", help="Comma-separated row counts instead of 10000,100000."
    )
    parser.add_argument("--seed", type=int, default=1, help="Generator seed (default 1).")
    parser.add_argument(
        "--database-url",
        default="",
        help="A PostgreSQL URL whose server gets two fresh databases; default: SQLite files.",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="Measure the peak of Python allocations (slow: timings are then not comparable).",
    )
    return parser.parse_args()


# --- the file -----------------------------------------------------------------------------------


def _credit_code(serial: int) -> str:
    from stdnum.cn import uscc

    digits = []
    for _ in range(9):
        serial, digit = divmod(serial, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    body = "91420902" + "".join(reversed(digits))
    return body + uscc.calc_check_digit(body)


def _rows(count: int, first_serial: int, seed: int) -> Iterator[list[str]]:
    rng = random.Random(seed * 1_000_003 + first_serial)
    for i in range(count):
        serial = first_serial + i
        place = "".join(rng.choice(_PLACES) for _ in range(2))
        name = f"{place}{rng.choice(_BRANDS)}{serial:x}{rng.choice(_KINDS)}"
        keyless = rng.random() < KEYLESS_SHARE
        credit = "" if keyless else _credit_code(serial)
        licence = "" if keyless or rng.random() < 0.3 else f"教民1420902{serial:09d}号"
        index = rng.randrange(STREETS * COMMUNITIES)
        street, community = divmod(index, COMMUNITIES)
        roll = rng.random()
        division = ""
        if roll < 0.3:
            division = _community_code(street, community)
        elif roll < 0.6:
            division = f"420902{street + 10:03d}000"
        road = f"{rng.choice(_ROADS)}{rng.randint(1, 400)}号"
        address = f"孝感市孝南区{road}"
        if rng.random() < 0.3:
            address = f"孝感市孝南区{_community_name(index)}{road}"
        position = ["", "", ""]
        if rng.random() < 0.3:
            lng, lat = _centre(index)
            position = [
                f"{lng + rng.uniform(-_HALF, _HALF) * 0.9:.6f}",
                f"{lat + rng.uniform(-_HALF, _HALF) * 0.9:.6f}",
                "wgs84",
            ]
        yield [
            name,
            credit,
            licence,
            rng.choice(_CATEGORIES),
            rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(2)),
            f"13{rng.randint(0, 999_999_999):09d}",
            address,
            division,
            *position,
            rng.choice(("是", "否")),
            str(rng.randint(20, 500)),
        ]


def _write_csv(path: Path, count: int, first_serial: int, seed: int) -> None:
    from bihuan.registry.imports import TEMPLATE_HEADER

    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(TEMPLATE_HEADER)
        writer.writerows(_rows(count, first_serial, seed))


# --- databases ----------------------------------------------------------------------------------


def _setup(import_url: str, baseline_url: str, media: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = import_url
    os.environ["MEDIA_ROOT"] = media
    # A million rows do not fit in the 20 MB a user may upload; the code path is the same.
    os.environ["IMPORT_MAX_BYTES"] = str(2 * 1024**3)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.conf import settings

    from bihuan.core.env import env_database

    settings.DATABASES["baseline"] = env_database("URL", "", environ={"URL": baseline_url})
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    django.setup()
    from django.core.management import call_command

    for alias in ("default", "baseline"):
        call_command("migrate", database=alias, verbosity=0)


def _territory() -> None:
    """The demo city and the synthetic streets and communities with outlines; the regions and
    areas copied to the baseline database with the same ids."""
    from bihuan.demo.loader import load_demo
    from bihuan.registry.models import Boundary
    from bihuan.territory.models import Area, Level, Region

    load_demo()
    district = Region.objects.get(code="420902")
    streets = [
        Region(
            code=f"420902{n + 10:03d}000",
            name=f"合成{n}街道",
            level=Level.STREET,
            parent=district,
            path=f"{district.path}420902{n + 10:03d}000/",
            depth=district.depth + 1,
            is_synthetic=True,
        )
        for n in range(STREETS)
    ]
    Region.objects.bulk_create(streets)
    communities = [
        Region(
            code=_community_code(s, c),
            name=_community_name(s * COMMUNITIES + c),
            level=Level.COMMUNITY,
            parent=street,
            path=f"{street.path}{_community_code(s, c)}/",
            depth=street.depth + 1,
            is_synthetic=True,
        )
        for s, street in enumerate(Region.objects.filter(code__in=[r.code for r in streets]))
        for c in range(COMMUNITIES)
    ]
    Region.objects.bulk_create(communities)
    outlines = []
    by_code = dict(Region.objects.filter(level=Level.COMMUNITY).values_list("code", "pk"))
    for index in range(STREETS * COMMUNITIES):
        street, community = divmod(index, COMMUNITIES)
        lng, lat = _centre(index)
        ring = [
            [lng - _HALF, lat - _HALF],
            [lng + _HALF, lat - _HALF],
            [lng + _HALF, lat + _HALF],
            [lng - _HALF, lat + _HALF],
            [lng - _HALF, lat - _HALF],
        ]
        outlines.append(
            Boundary(
                region_id=by_code[_community_code(street, community)],
                geometry={"type": "Polygon", "coordinates": [ring]},
                min_lat=lat - _HALF,
                max_lat=lat + _HALF,
                min_lng=lng - _HALF,
                max_lng=lng + _HALF,
            )
        )
    Boundary.objects.bulk_create(outlines)
    regions = list(Region.objects.order_by("depth", "pk"))
    Region.objects.using("baseline").bulk_create(regions)
    Area.objects.using("baseline").bulk_create(list(Area.objects.order_by("pk")))


# --- measuring ----------------------------------------------------------------------------------


def _peak_rss_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            found = re.search(r"VmHWM:\s+(\d+)", handle.read())
        if found:
            return int(found.group(1)) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _import(path: Path, actor: Any, region: Any) -> tuple[Any, dict[str, float]]:
    from django.core.files.uploadedfile import UploadedFile

    from bihuan.registry import imports

    times: dict[str, float] = {}
    started = time.perf_counter()
    with path.open("rb") as handle:
        upload = UploadedFile(handle, name=path.name, size=path.stat().st_size)
        record = imports.institution_import_create(actor=actor, upload=upload, region=region)
    times["upload"] = time.perf_counter() - started
    started = time.perf_counter()
    record = imports.institution_import_check(record.pk)
    times["check"] = time.perf_counter() - started
    if record.error_count or record.status != "checked":
        raise SystemExit(f"the check found problems: {record.status} {record.summary}")
    started = time.perf_counter()
    imports.institution_import_queue(actor=actor, record=record)
    record = imports.institution_import_apply(record.pk)
    times["apply"] = time.perf_counter() - started
    if record.status != "done":
        raise SystemExit(f"the apply failed: {record.outcome}")
    return record, times


def _baseline(record: Any) -> tuple[int, float]:
    """The rows the import created, written again by plain bulk_create; (rows, seconds)."""
    from django.db import transaction

    from bihuan.registry.models import ImportRow, Institution

    skipped = {"id", "created_at", "updated_at"}
    names = [f.attname for f in Institution._meta.concrete_fields if f.attname not in skipped]
    created = ImportRow.objects.filter(batch=record, action__in=["create", "review"])
    ids = created.values("institution_id")
    rows = 0
    seconds = 0.0
    last = 0
    with transaction.atomic(using="baseline"):
        while True:
            chunk = list(
                Institution.objects.filter(pk__in=ids, pk__gt=last)
                .order_by("pk")
                .values("pk", *names)[:BATCH]
            )
            if not chunk:
                break
            last = chunk[-1].pop("pk")
            for values in chunk:
                values.pop("pk", None)
            started = time.perf_counter()
            Institution.objects.using("baseline").bulk_create([Institution(**v) for v in chunk])
            seconds += time.perf_counter() - started
            rows += len(chunk)
    return rows, seconds


def _server(connection: Any) -> str:
    if connection.vendor == "sqlite":
        return f"SQLite {connection.Database.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def main() -> None:
    args = _parse()
    sizes = [int(s) for s in args.sizes.split(",") if s] or [10_000, 100_000]
    if args.big:
        sizes.append(1_000_000)
    with (
        tempfile.TemporaryDirectory(prefix="bihuan-bench-files-") as folder,
        fresh_databases(args.database_url, "import", "baseline") as (import_url, baseline_url),
    ):
        _setup(import_url, baseline_url, os.path.join(folder, "media"))
        from django.db import connection, connections

        from bihuan.accounts.models import User
        from bihuan.territory.models import Region

        _territory()
        actor = User.objects.get(username="xiaonan")
        region = Region.objects.get(code="420902")
        print(f"Registry import against raw bulk_create: seed {args.seed}, {_server(connection)}")
        memory = "peak Python MB" if args.tracemalloc else "peak RSS MB"
        print(
            f"{'rows':>9} {'file MB':>8} {'upload s':>9} {'check s':>8} {'apply s':>8} "
            f"{'import rows/s':>14} {'bulk rows/s':>12} {'ratio':>6} {'apply ratio':>12} "
            f"{memory:>15}"
        )
        serial = 1
        for size in sizes:
            path = Path(folder) / f"registry-{size}.csv"
            _write_csv(path, size, serial, args.seed)
            serial += size
            connections.close_all()
            if args.tracemalloc:
                tracemalloc.start()
            else:
                _peak_rss_reset()
            record, times = _import(path, actor, region)
            if args.tracemalloc:
                peak = tracemalloc.get_traced_memory()[1] / 1024**2
                tracemalloc.stop()
            else:
                peak = _peak_rss_mb()
            rows, baseline_seconds = _baseline(record)
            total = times["check"] + times["apply"] + times["upload"]
            import_rate = size / total
            baseline_rate = rows / baseline_seconds
            apply_rate = rows / times["apply"]
            print(
                f"{size:>9,} {path.stat().st_size / 1024**2:>8.1f} {times['upload']:>9.2f} "
                f"{times['check']:>8.2f} {times['apply']:>8.2f} {import_rate:>14,.0f} "
                f"{baseline_rate:>12,.0f} {import_rate / baseline_rate:>6.2f} "
                f"{apply_rate / baseline_rate:>12.2f} {peak:>15.0f}",
                flush=True,
            )
            path.unlink()
        print(
            "ratio: rows/s of the whole import (upload + check + apply) over rows/s of bulk_create;"
            " apply ratio: of the apply alone (the created rows)."
        )
        connections.close_all()


if __name__ == "__main__":
    main()
