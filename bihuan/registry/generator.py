"""A synthetic registry at province scale, for benchmarks and load tests, reproducible from a seed.

``institutions_generate`` spreads ``count`` institutions over the communities of a place (a
synthetic province made by ``bihuan.demo.generator``, say) and writes them with bulk inserts in
one transaction. Every record is marked ``is_synthetic`` and ``source="generated"``; phones start
with 100 (no Chinese mobile number does) and no credit code or licence number is invented, so
nothing can collide with, or be mistaken for, official data.

Names are a brand and a kind (“启明” + “美术培训学校”); their normal form and pinyin are computed
once per part rather than per record, so 150,000 records take seconds, not minutes. The rows are
written with ``bulk_create`` rather than through ``institution_create``, which places, matches
and audits one record at a time; one audit event records the parameters instead, which regenerate
every row.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from bihuan.audit.services import event_record
from bihuan.core.errors import ServiceError
from bihuan.registry.models import Category, Institution, Source, Status
from bihuan.registry.normalize import normalize_name, pinyin_forms
from bihuan.territory.models import Level, Region

BATCH_SIZE = 5000
_BRAND_CHARS = (
    "启明航博学智慧新星育才卓越阳光睿思乐远优书香领英"
    "童心金色彩虹晨曦青苗春晖知行致远弘毅雅尚文华鸿鹄"
)
_KINDS: tuple[tuple[str, str], ...] = (
    ("学科辅导中心", Category.SUBJECT),
    ("教育培训学校", Category.SUBJECT),
    ("美术培训学校", Category.ARTS),
    ("舞蹈培训学校", Category.ARTS),
    ("音乐艺术培训中心", Category.ARTS),
    ("体育俱乐部", Category.SPORTS),
    ("跆拳道馆", Category.SPORTS),
    ("机器人编程中心", Category.SCIENCE_TECH),
    ("口才培训中心", Category.OTHER),
    ("托管班", Category.NONE),
    ("学习屋", Category.NONE),
)


@dataclass(frozen=True)
class RegistryParams:
    """How many institutions, where the share of field finds and of unlicensed places, the seed."""

    count: int = 150_000
    seed: int = 1
    pending_share: float = 0.03
    unlicensed_share: float = 0.1

    def check(self) -> None:
        """Raise ServiceError on numbers that make no registry."""
        if self.count < 0:
            raise ServiceError(_("The number of institutions cannot be negative."), field="count")
        for name in ("pending_share", "unlicensed_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ServiceError(_("A share lies between 0 and 1."), field=name)


def _parts(rng: random.Random) -> list[str]:
    chars = _BRAND_CHARS
    brands = sorted({a + b for a in chars for b in chars if a != b})
    rng.shuffle(brands)
    return brands[:400]


def plan_institutions(
    params: RegistryParams, communities: list[tuple[int, str]]
) -> list[Institution]:
    """Unsaved institutions over ``communities`` ((pk, name) pairs); same input, same rows."""
    params.check()
    if not communities:
        raise ServiceError(_("There is no community to put institutions in."), field="within")
    # Reproducible data, not secrets: a seeded Mersenne Twister is what is wanted here.
    rng = random.Random(params.seed)  # noqa: S311
    brands = _parts(rng)
    forms = {part: (normalize_name(part), *pinyin_forms(part)) for part in brands}
    forms |= {kind: (normalize_name(kind), *pinyin_forms(kind)) for kind, _c in _KINDS}
    rows: list[Institution] = []
    for _n in range(params.count):
        community_id, community_name = communities[rng.randrange(len(communities))]
        brand = rng.choice(brands)
        kind, category = _KINDS[rng.randrange(len(_KINDS))]
        if rng.random() < params.unlicensed_share:
            category = Category.NONE
        pending = rng.random() < params.pending_share
        b, k = forms[brand], forms[kind]
        rows.append(
            Institution(
                name=f"{brand}{kind}",
                name_normalized=(b[0] + k[0])[:200],
                name_pinyin=(b[1] + k[1])[:600],
                name_initials=(b[2] + k[2])[:200],
                category=category,
                status=Status.PENDING if pending else Status.REGISTERED,
                operator_name="",
                contact_phone=f"100{rng.randrange(10**8):08d}",
                address=f"{community_name}{rng.randint(1, 300)}号",
                region_id=community_id,
                community_id=community_id,
                source=Source.GENERATED,
                is_synthetic=True,
                capacity=rng.randint(20, 300),
            )
        )
    return rows


def institutions_generate(*, within: Region, params: RegistryParams) -> int:
    """Write ``params.count`` synthetic institutions over the communities of ``within``."""
    communities = list(
        Region.objects.filter(path__startswith=within.path, level=Level.COMMUNITY, is_active=True)
        .order_by("path")
        .values_list("pk", "name")
    )
    rows = plan_institutions(params, communities)
    with transaction.atomic():
        Institution.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        # One event for the batch: the parameters and the place regenerate every row.
        event_record(
            actor=None,
            verb="registry.generated",
            obj=within,
            after={**asdict(params), "communities": len(communities), "rows": len(rows)},
        )
    return len(rows)
