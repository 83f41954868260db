"""The demo city's registry: the three institutions of 文昌社区 from the article's story, and about
three hundred more across Xiaogan, among them near-duplicates and Traditional-character names for
the matcher and the search to find.

Every name, code, phone and position here is invented (``is_synthetic=True``): credit codes carry
a correct GB 32100 check character (python-stdnum) over a made-up organisation code, phones start
with 100 (no Chinese mobile number does), and the positions are scattered around the real towns.

``plan_registry`` is pure and seeded: it decides every record. ``load_demo_registry`` writes the
missing ones through the registry services, so each is placed and audited like any other, and a
second run finds every record by its key (credit code, licence number, or name within its place)
and creates nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache

import opencc
from django.db import transaction
from django.db.models import Q
from stdnum.cn import uscc

from bihuan.demo import data
from bihuan.registry import matching, services
from bihuan.registry.models import Category, Datum, Institution, Source, Status
from bihuan.registry.normalize import core_name
from bihuan.territory.models import Region

SEED = 2023
GENERATED = 300
BLACKLISTED = 3

# Rough centres of the county-level towns (WGS-84), for scattering positions.
CENTRES: dict[str, tuple[float, float]] = {
    "420902": (30.924, 113.916),
    "420921": (31.258, 113.998),
    "420922": (31.561, 114.127),
    "420923": (31.021, 113.753),
    "420981": (30.928, 113.573),
    "420982": (31.257, 113.689),
    "420984": (30.661, 113.832),
}
DISTRICT_NAMES = {code: name for code, name, _p, level, _s in data.REGIONS if level == "district"}
# Communities of the demo city other than 文昌社区, whose three institutions are the story's own.
OTHER_COMMUNITIES = [
    data.HUAIYIN,
    data.QIANKUN,
    "420902001001",
    "420902002001",
    "420902004001",
]
COMMUNITY_NAMES = {code: name for code, name, _p, level, _s in data.REGIONS if level == "community"}

_BRANDS = (
    "启明启航博学智慧新星育才卓越明德阳光睿思乐学思远优才书香领航英才童心金色彩虹星辰晨曦"
    "青苗小树春晖知行致远求真弘毅尚学文华鸿鹄启迪未来天天快乐三味桃李墨香清风朗月飞鸿"
    "竹韵松涛云帆远航梧桐海燕雏鹰火炬琢玉点石同心和悦"
)
_WORD_BRANDS = (
    "向日葵",
    "蒲公英",
    "满天星",
    "百灵鸟",
    "小树苗",
    "七色光",
    "小海豚",
    "金钥匙",
    "红蜻蜓",
)
_LATIN_BRANDS = ("ABC", "KK", "Hi", "Go", "Top", "E学")
_KINDS: dict[str, tuple[str, ...]] = {
    Category.SUBJECT: (
        "学科辅导中心",
        "教育培训学校",
        "英语培训学校",
        "数学思维培训中心",
        "作文培训学校",
        "课外辅导学校",
    ),
    Category.ARTS: ("美术培训学校", "书画艺术中心", "舞蹈培训学校", "音乐艺术培训中心", "钢琴学校"),
    Category.SPORTS: ("体育俱乐部", "篮球训练营", "跆拳道馆", "游泳俱乐部", "武术培训中心"),
    Category.SCIENCE_TECH: ("机器人编程中心", "科技创新教育中心", "少儿编程培训学校"),
    Category.OTHER: ("口才培训中心", "研学教育中心", "围棋培训学校"),
    Category.NONE: ("托管班", "辅导工作室", "学习屋"),
}
_CATEGORY_WEIGHTS = {
    Category.SUBJECT: 20,
    Category.ARTS: 25,
    Category.SPORTS: 20,
    Category.SCIENCE_TECH: 12,
    Category.OTHER: 10,
    Category.NONE: 13,
}
_COURSES: dict[str, tuple[tuple[str, bool, int, int], ...]] = {
    Category.SUBJECT: (
        ("初中数学提高班", True, 12, 15),
        ("小学语文阅读", True, 7, 12),
        ("初中英语", True, 12, 15),
    ),
    Category.ARTS: (
        ("少儿国画", False, 6, 12),
        ("硬笔书法", False, 6, 14),
        ("少儿舞蹈", False, 4, 12),
    ),
    Category.SPORTS: (
        ("青少年篮球", False, 8, 16),
        ("跳绳体能", False, 6, 12),
        ("游泳", False, 5, 15),
    ),
    Category.SCIENCE_TECH: (("机器人搭建", False, 6, 12), ("Scratch编程", False, 8, 14)),
    Category.OTHER: (("少儿口才", False, 5, 12), ("围棋入门", False, 5, 12)),
    # An unlicensed place that teaches a school subject: disguised tutoring waiting to be found.
    Category.NONE: (("作业辅导", True, 7, 12),),
}
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力鹏宇婷"
_STREETS = ("槐荫大道", "北京路", "城站路", "天仙北路", "长征路", "乾坤大道", "交通路", "银泰路")
_BLACKLIST_REASON = "合成示例：无证开展学科类培训，拒不整改"
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class CourseSpec:
    name: str
    is_subject: bool
    age_min: int
    age_max: int


@dataclass(frozen=True)
class InstitutionSpec:
    """One demo institution, as the services receive it."""

    name: str
    region: str  # division code: a community, or a district without communities in the demo
    category: str
    credit_code: str = ""
    licence_number: str = ""
    status: str = Status.REGISTERED
    operator_name: str = ""
    contact_phone: str = ""
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    datum: str = ""
    capacity: int | None = None
    has_custody_account: bool = False
    blacklist_reason: str = ""
    courses: tuple[CourseSpec, ...] = ()
    # The spec this one is a near-duplicate of (its name), for the tests and the demo guide.
    duplicate_of: str = ""
    traditional_only: bool = field(default=False)


# The story: the volunteer of 文昌社区 visits these three on site.
WENCHANG_STORY: tuple[InstitutionSpec, ...] = (
    InstitutionSpec(
        name="孝南区启明学科辅导中心",
        region=data.WENCHANG,
        category=Category.SUBJECT,
        licence_number="教民142090270000001号",
        operator_name="李文博",
        contact_phone="10012340001",
        address="孝南区广场街道文昌社区体育路18号",
        latitude=30.9268,
        longitude=113.9203,
        datum=Datum.GCJ02,
        capacity=120,
        has_custody_account=True,
        courses=(
            CourseSpec("初中数学提高班", True, 12, 15),
            CourseSpec("小学语文阅读", True, 7, 12),
        ),
    ),
    InstitutionSpec(
        name="孝南区墨韵书画艺术培训学校",
        region=data.WENCHANG,
        category=Category.ARTS,
        licence_number="教民142090270000002号",
        operator_name="周雅琴",
        contact_phone="10012340002",
        address="孝南区广场街道文昌社区体育路36号二楼",
        latitude=30.9261,
        longitude=113.9217,
        datum=Datum.GCJ02,
        capacity=60,
        courses=(CourseSpec("少儿国画", False, 6, 12), CourseSpec("硬笔书法", False, 6, 14)),
    ),
    InstitutionSpec(
        name="孝南区飞扬体育俱乐部",
        region=data.WENCHANG,
        category=Category.SPORTS,
        operator_name="陈志强",
        contact_phone="10012340003",
        address="孝南区广场街道文昌社区文昌路9号",
        latitude=30.9249,
        longitude=113.9188,
        datum=Datum.WGS84,
        capacity=80,
        courses=(CourseSpec("青少年篮球", False, 8, 16), CourseSpec("跳绳体能", False, 6, 12)),
    ),
)


@lru_cache(maxsize=1)
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def to_traditional(text: str) -> str:
    """The Traditional form of a Simplified text (OpenCC)."""
    return str(_s2t().convert(text))


def credit_code(authority_and_kind: str, district: str, serial: int) -> str:
    """A well-formed unified social credit code for a made-up organisation.

    The organisation code (GB 11714) gets its own check character, and the whole code its
    GB 32100 check character from python-stdnum.
    """
    body = f"{serial:08d}"
    total = sum(int(c) * w for c, w in zip(body, _GB11714_WEIGHTS, strict=True))
    check = 11 - total % 11
    organisation = body + {10: "X", 11: "0"}.get(check, str(check))
    first17 = f"{authority_and_kind}{district}{organisation}"
    return first17 + uscc.calc_check_digit(first17)


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# How the second record of an institution differs from the first; the last two change a word of
# the name, which the matcher should send to review rather than merge on its own.
VARIANTS = (
    "traditional",
    "full_width",
    "branch",
    "spacing",
    "legal_form",
    "other_suffix",
    "traditional_other_suffix",
    "other_suffix",
    "traditional_other_suffix",
    "traditional",
)
NEAR_DUPLICATES = len(VARIANTS)
SCRIPT_ONLY = frozenset({"traditional", "full_width", "spacing"})
_SUFFIX_SWAPS = (
    ("学校", "中心"),
    ("中心", "学校"),
    ("俱乐部", "会馆"),
    ("训练营", "俱乐部"),
    ("馆", "中心"),
    ("班", "中心"),
    ("工作室", "中心"),
    ("屋", "中心"),
)


def _other_suffix(name: str) -> str:
    for old, new in _SUFFIX_SWAPS:
        if name.endswith(old):
            return name[: -len(old)] + new
    return name + "中心"


def _variant(spec: InstitutionSpec, kind: str, rng: random.Random) -> InstitutionSpec:
    """A second record of the same institution, as another source would have written it."""
    name = spec.name
    if kind == "traditional":
        name = to_traditional(name)
    elif kind == "full_width":
        name = _full_width(name) if any(c.isascii() for c in name) else f"{name}（总校）"
    elif kind == "branch":
        name = f"{name}（{rng.choice(('东城', '城南', '新华'))}分校）"
    elif kind == "spacing":
        half = len(name) // 2
        name = f"{name[:half]} {name[half:]}"
    elif kind == "legal_form":
        name = f"{name}有限公司"
    elif kind == "other_suffix":
        name = _other_suffix(name)
    else:
        name = to_traditional(_other_suffix(name))
    phone = spec.contact_phone
    if phone and rng.random() < 0.7:
        phone = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
    lat = spec.latitude + rng.uniform(-0.0003, 0.0003) if spec.latitude is not None else None
    lng = spec.longitude + rng.uniform(-0.0003, 0.0003) if spec.longitude is not None else None
    return InstitutionSpec(
        name=name,
        region=spec.region,
        category=spec.category if rng.random() < 0.5 else Category.NONE,
        operator_name=spec.operator_name,
        contact_phone=phone,
        address=spec.address.replace("号", " 号"),
        latitude=round(lat, 6) if lat is not None else None,
        longitude=round(lng, 6) if lng is not None else None,
        datum=spec.datum,
        duplicate_of=spec.name,
    )


@lru_cache(maxsize=2)
def plan_registry(seed: int = SEED) -> tuple[InstitutionSpec, ...]:
    """Every demo institution, the story's three first; the same seed gives the same list."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not a secret
    specs = list(WENCHANG_STORY)
    # Names already planned, by brand and by kind: only names sharing one can look alike.
    taken: dict[str, list[tuple[str, str]]] = {}
    places = [(c, "420902") for c in OTHER_COMMUNITIES] + [(d, d) for d in CENTRES if d != "420902"]
    categories = list(_CATEGORY_WEIGHTS)
    weights = list(_CATEGORY_WEIGHTS.values())
    serial = 0
    while len(specs) < len(WENCHANG_STORY) + GENERATED:
        serial += 1
        region, district = places[serial % len(places)]
        category = rng.choices(categories, weights)[0]
        brand = rng.choice(_LATIN_BRANDS) if rng.random() < 0.06 else _brand(rng)
        prefix = DISTRICT_NAMES[district] if rng.random() < 0.25 else ""
        kind = rng.choice(_KINDS[category])
        name, core = f"{prefix}{brand}{kind}", core_name(f"{prefix}{brand}{kind}")
        if _too_alike(core, region, taken.get(brand, []) + taken.get(kind, [])):
            continue
        for key in (brand, kind):
            taken.setdefault(key, []).append((core, region))
        lat0, lng0 = CENTRES[district]
        positioned = rng.random() < 0.6
        licensed = category != Category.NONE
        community = COMMUNITY_NAMES.get(region, "")
        street = rng.choice(_STREETS)
        roll = rng.random()
        status = (
            Status.PENDING
            if not licensed and roll < 0.5
            else Status.SUSPENDED
            if roll < 0.04
            else Status.CLOSED
            if roll < 0.08
            else Status.REGISTERED
        )
        courses = rng.sample(_COURSES[category], k=min(len(_COURSES[category]), rng.randint(1, 3)))
        specs.append(
            InstitutionSpec(
                name=name,
                region=region,
                category=category,
                credit_code=credit_code("52", district, 10_000_000 + serial)
                if licensed and rng.random() < 0.75
                else "",
                licence_number=f"教民{district}7{serial:08d}号"
                if licensed and rng.random() < 0.6
                else "",
                status=status,
                operator_name=rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(_GIVEN),
                contact_phone=f"100{rng.randrange(10**8):08d}",
                address=f"{DISTRICT_NAMES[district]}{community}{street}{rng.randint(1, 300)}号",
                latitude=round(lat0 + rng.uniform(-0.03, 0.03), 6) if positioned else None,
                longitude=round(lng0 + rng.uniform(-0.03, 0.03), 6) if positioned else None,
                datum=rng.choice((Datum.GCJ02, Datum.WGS84)) if positioned else "",
                capacity=rng.choice((None, 30, 50, 80, 120, 200)),
                has_custody_account=licensed and rng.random() < 0.5,
                courses=tuple(CourseSpec(*c) for c in courses) if rng.random() < 0.5 else (),
            )
        )
    generated = specs[len(WENCHANG_STORY) :]
    # A few institutions whose only record is written in Traditional characters.
    for i in rng.sample(range(len(generated)), 5):
        spec = generated[i]
        generated[i] = replace(spec, name=to_traditional(spec.name), traditional_only=True)
    for i in rng.sample(range(len(generated)), BLACKLISTED):
        generated[i] = replace(generated[i], blacklist_reason=_BLACKLIST_REASON)
    originals = _originals(generated, rng)
    duplicates = [_variant(spec, kind, rng) for spec, kind in zip(originals, VARIANTS, strict=True)]
    return (*specs[: len(WENCHANG_STORY)], *generated, *duplicates)


def _originals(generated: list[InstitutionSpec], rng: random.Random) -> list[InstitutionSpec]:
    """The institutions that get a second record, one per entry of VARIANTS.

    A variant that changes words of the name is made of an institution placed in a community:
    the matcher compares names loosely only within a community, and looks elsewhere for the
    same name in another script, width or spacing alone.
    """
    usable = [s for s in generated if not s.traditional_only]
    latin = [s for s in usable if any(c.isascii() for c in s.name)]
    placed = [s for s in usable if len(s.region) == 12 and s not in latin]
    anywhere = [s for s in usable if s not in latin]
    rng.shuffle(placed)
    rng.shuffle(anywhere)
    chosen: list[InstitutionSpec] = []
    for kind in VARIANTS:
        pool = latin if kind == "full_width" else anywhere if kind in SCRIPT_ONLY else placed
        chosen.append(next(s for s in pool if s not in chosen))
    return chosen


def _too_alike(core: str, region: str, others: list[tuple[str, str]]) -> bool:
    # Two invented institutions must not look alike to the matcher (the same community adds to
    # the score): the only pairs it should find are the near-duplicates made on purpose.
    for other, where in others:
        same_place = region == where and len(region) == 12
        score = matching.name_similarity(core, other) + (
            matching.COMMUNITY_BOOST if same_place else 0
        )
        if score >= matching.REVIEW:
            return True
    return False


def _brand(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return rng.choice(_WORD_BRANDS)
    start = rng.randrange(0, len(_BRANDS) - 1, 2)
    return _BRANDS[start : start + 2]


class _Existing:
    """Keys of the institutions already in the database (merged records count: they were made)."""

    def __init__(self, specs: tuple[InstitutionSpec, ...]) -> None:
        rows = Institution.objects.filter(
            Q(credit_code__in=[s.credit_code for s in specs if s.credit_code])
            | Q(licence_number__in=[s.licence_number for s in specs if s.licence_number])
            | Q(name__in=[s.name for s in specs])
        ).values_list("credit_code", "licence_number", "name", "region__path")
        self.codes = {code for code, _l, _n, _p in rows if code}
        self.licences = {licence for _c, licence, _n, _p in rows if licence}
        self.named = [(name, path) for _c, _l, name, path in rows]

    def has(self, spec: InstitutionSpec, region: Region) -> bool:
        if spec.credit_code:
            return spec.credit_code in self.codes
        if spec.licence_number:
            return spec.licence_number in self.licences
        # Placement may have moved the record below the region it was created in.
        return any(n == spec.name and p.startswith(region.path) for n, p in self.named)


@transaction.atomic
def load_demo_registry() -> dict[str, int]:
    """Create the missing demo institutions (after ``load_demo``); counts of what was made."""
    created = {"institutions": 0, "courses": 0, "status_changes": 0, "blacklisted": 0}
    specs = plan_registry()
    regions = {r.code: r for r in Region.objects.filter(code__in={s.region for s in specs})}
    existing = _Existing(specs)
    for spec in specs:
        region = regions[spec.region]
        if existing.has(spec, region):
            continue
        initial = Status.PENDING if spec.status == Status.PENDING else Status.REGISTERED
        institution = services.institution_create(
            actor=None,
            name=spec.name,
            region=region,
            source=Source.FIELD if initial == Status.PENDING else Source.IMPORT,
            credit_code=spec.credit_code,
            licence_number=spec.licence_number,
            category=spec.category,
            status=initial,
            operator_name=spec.operator_name,
            contact_phone=spec.contact_phone,
            address=spec.address,
            latitude=Decimal(str(spec.latitude)) if spec.latitude is not None else None,
            longitude=Decimal(str(spec.longitude)) if spec.longitude is not None else None,
            datum=spec.datum,
            has_custody_account=spec.has_custody_account,
            capacity=spec.capacity,
            is_synthetic=True,
        )
        created["institutions"] += 1
        for course in spec.courses:
            services.course_add(
                actor=None,
                institution=institution,
                name=course.name,
                is_subject=course.is_subject,
                age_min=course.age_min,
                age_max=course.age_max,
            )
            created["courses"] += 1
        if spec.status != initial:
            services.institution_set_status(
                actor=None, institution=institution, status=spec.status, reason="合成示例"
            )
            created["status_changes"] += 1
        if spec.blacklist_reason:
            services.institution_set_blacklist(
                actor=None, institution=institution, blacklisted=True, reason=spec.blacklist_reason
            )
            created["blacklisted"] += 1
    return created
