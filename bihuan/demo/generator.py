"""A synthetic province for scale and load testing, reproducible from a seed.

``plan_territory`` is pure: from the parameters and the seed it decides every code, name, account
and assignment, so the same seed always gives the same rows. ``build_objects`` turns a plan into
unsaved model instances linked to each other, and ``territory_generate`` writes them with bulk
inserts in one transaction. Nothing here is official data: the province code is one no real
province uses, and every record is marked synthetic.

The rows are written with ``bulk_create`` rather than through the territory and account services,
which check and audit one record at a time: at province scale (about 270,000 rows) that would take
hours. The plan keeps the invariants those services check (code rules, paths, the levels at which
a role may be held, officers inside their department's jurisdiction, school sentinels at their
school's community), and the tests hold the generated data to them.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import Assignment, Department, DepartmentKind, Role, User
from bihuan.audit.services import event_record
from bihuan.core.errors import ServiceError
from bihuan.territory import codes
from bihuan.territory.models import Area, Region, Sentinel, SentinelKind
from bihuan.territory.services import region_path

PROVINCE_CODE = "990000"
PROVINCE_NAME = "合成省"
BATCH_SIZE = 5000
# Real province codes run from 11 to 82; a code from 90 up can never collide with official data.
FICTITIOUS_PROVINCE_PREFIX = 90
DISTRICTS_PER_CITY = 10
# Statistical code convention: street parts 001-099 are sub-districts (街道), 100-199 towns (镇);
# community parts 001-199 are neighbourhood committees (社区), 200-399 village committees (村).
MAX_SUBDISTRICTS, FIRST_TOWN, MAX_TOWNS = 99, 100, 100
FIRST_VILLAGE, MAX_COMMUNITIES_PER_STREET = 200, 799
MAX_DISTRICTS_PER_CITY, MAX_CITIES = 99, 99

_PLACE_SYLLABLES = (
    "安宁和平康乐兴华明德文昌新丰泰清河山湖林阳光福瑞东南西北长春永成建民荣嘉禾金桥"
    "云溪松柏桃李梅竹兰江湾龙凤鹿泉石田园峰岭川"
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力鹏宇婷雪琳晨浩欣怡"
_SCHOOL_SUFFIXES = ("小学", "中学", "实验小学", "初级中学", "九年一贯制学校", "第一小学")
# (kind, provincial name, provincial short name, municipal name, municipal short name); "{}" is
# the region's name.
_DEPARTMENTS: tuple[tuple[str, str, str, str, str], ...] = (
    (DepartmentKind.EDUCATION, "{}教育厅", "{}教育厅", "{}教育局", "{}教育局"),
    (DepartmentKind.MARKET, "{}市场监督管理局", "{}市场监管局", "{}市场监督管理局", "{}市场监管局"),
    (DepartmentKind.CULTURE_TOURISM, "{}文化和旅游厅", "{}文旅厅", "{}文化和旅游局", "{}文旅局"),
    (DepartmentKind.SCIENCE_TECH, "{}科学技术厅", "{}科技厅", "{}科学技术局", "{}科技局"),
    (DepartmentKind.PUBLIC_SECURITY, "{}公安厅", "{}公安厅", "{}公安局", "{}公安局"),
    (
        DepartmentKind.DEVELOPMENT_REFORM,
        "{}发展和改革委员会",
        "{}发改委",
        "{}发展和改革委员会",
        "{}发改委",
    ),
    (
        DepartmentKind.URBAN_MANAGEMENT,
        "{}住房和城乡建设厅",
        "{}住建厅",
        "{}城市管理执法局",
        "{}城管局",
    ),
    (DepartmentKind.FIRE_RESCUE, "{}消防救援总队", "{}消防总队", "{}消防救援支队", "{}消防支队"),
    (
        DepartmentKind.CENTRAL_BANK,
        "中国人民银行{}分行",
        "人行{}分行",
        "中国人民银行{}分行",
        "人行{}分行",
    ),
)
_ADMIN_ROLES = (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)


@dataclass(frozen=True)
class GeneratorParams:
    """How big the synthetic province is, and the seed that decides everything else."""

    districts: int = 100
    streets: int = 1500
    communities: int = 20000
    schools: int = 10000
    users: int = 100000
    seed: int = 1
    province: str = PROVINCE_CODE
    # Inspector accounts, on top of ``users`` when given (the screening benchmark wants a set
    # number); by default, whatever ``users`` leaves after the other roles.
    inspectors: int | None = None

    @property
    def cities(self) -> int:
        return min(MAX_CITIES, math.ceil(self.districts / DISTRICTS_PER_CITY))

    @property
    def username_prefix(self) -> str:
        return f"syn{self.province[:2]}-"

    def check(self) -> None:
        """Raise ServiceError when the numbers cannot make a valid tree of division codes."""
        try:
            codes.check_code(self.province, codes.PROVINCE)
        except codes.CodeError as exc:
            raise ServiceError(str(exc), field="province") from None
        if int(self.province[:2]) < FICTITIOUS_PROVINCE_PREFIX:
            raise ServiceError(
                _("Generate only into a fictitious province (codes 900000 to 990000)."),
                field="province",
            )
        _check_range("districts", self.districts, 1, MAX_CITIES * MAX_DISTRICTS_PER_CITY)
        _check_range(
            "streets", self.streets, self.districts, self.districts * (MAX_SUBDISTRICTS + MAX_TOWNS)
        )
        _check_range(
            "communities", self.communities, self.streets, self.streets * MAX_COMMUNITIES_PER_STREET
        )
        _check_range("schools", self.schools, 0, None)
        _check_range("users", self.users, 0, None)
        if self.inspectors is not None:
            _check_range("inspectors", self.inspectors, 0, None)


def _check_range(name: str, value: int, low: int, high: int | None) -> None:
    if value < low or (high is not None and value > high):
        bounds = f"{low}–{high}" if high is not None else f"≥ {low}"
        raise ServiceError(
            _("The number of %(what)s must be %(bounds)s; %(value)d is not.")
            % {"what": name, "bounds": bounds, "value": value},
            field=name,
        )


class RegionPlan(NamedTuple):
    """A region to create; its parent by code."""

    code: str
    name: str
    level: str
    parent: str | None


class DepartmentPlan(NamedTuple):
    """A linked department; its jurisdiction by region code."""

    kind: str
    name: str
    short_name: str
    jurisdiction: str


class AreaPlan(NamedTuple):
    """An area of responsibility on a street (region), over its communities, by code."""

    name: str
    school_district: str
    region: str
    communities: tuple[str, ...]


class SentinelPlan(NamedTuple):
    """A community or school sentinel; its community by code."""

    kind: str
    name: str
    region: str
    # The street whose area the sentinel belongs to (one area per street).
    area: str
    address: str


class UserPlan(NamedTuple):
    """An account."""

    username: str
    display_name: str
    phone: str


class AssignmentPlan(NamedTuple):
    """A role of the account at index ``user``; department and sentinel by index in the plan."""

    user: int
    role: str
    region: str
    department: int | None
    sentinel: int | None


@dataclass(frozen=True)
class Plan:
    """Every row of a synthetic province, with references by code or by index, before any id."""

    params: GeneratorParams
    regions: list[RegionPlan]
    departments: list[DepartmentPlan]
    areas: list[AreaPlan]
    sentinels: list[SentinelPlan]
    users: list[UserPlan]
    assignments: list[AssignmentPlan]

    def counts(self) -> dict[str, int]:
        """How many records of each kind the plan makes."""
        levels = Counter(r.level for r in self.regions)
        return {
            "regions": len(self.regions),
            "cities": levels[codes.CITY],
            "districts": levels[codes.DISTRICT],
            "streets": levels[codes.STREET],
            "communities": levels[codes.COMMUNITY],
            "departments": len(self.departments),
            "areas": len(self.areas),
            "area_communities": sum(len(a.communities) for a in self.areas),
            "sentinels": len(self.sentinels),
            "schools": sum(s.kind == SentinelKind.SCHOOL for s in self.sentinels),
            "users": len(self.users),
            "assignments": len(self.assignments),
        }

    def roles(self) -> dict[str, int]:
        """How many assignments of each role the plan makes."""
        return dict(sorted(Counter(str(a.role) for a in self.assignments).items()))

    def summary(self) -> dict[str, Any]:
        """What the audit event records: enough to regenerate every row."""
        return {"parameters": asdict(self.params), "counts": self.counts(), "roles": self.roles()}


def _spread(total: int, buckets: int, cap: int, rng: random.Random) -> list[int]:
    """Split total into buckets of 1 to cap each, at random."""
    counts = [1] * buckets
    open_buckets = list(range(buckets))
    for _i in range(total - buckets):
        slot = rng.randrange(len(open_buckets))
        bucket = open_buckets[slot]
        counts[bucket] += 1
        if counts[bucket] == cap:
            open_buckets[slot] = open_buckets[-1]
            open_buckets.pop()
    return counts


def _unique_name(rng: random.Random, used: set[str], suffix: str) -> str:
    """Two syllables and a suffix, not yet in used (numbered when the syllables run out)."""
    for _attempt in range(20):
        name = rng.choice(_PLACE_SYLLABLES) + rng.choice(_PLACE_SYLLABLES) + suffix
        if name not in used:
            used.add(name)
            return name
    name = f"{rng.choice(_PLACE_SYLLABLES)}{len(used) + 1}{suffix}"
    used.add(name)
    return name


def _person_name(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.6 else "")
    return rng.choice(_SURNAMES) + given


def _phone(rng: random.Random) -> str:
    # 100 starts no mobile number, so a synthetic number never reaches a real person.
    return f"100{rng.randrange(10**8):08d}"


def _plan_regions(params: GeneratorParams, rng: random.Random) -> list[RegionPlan]:
    province = params.province
    regions = [RegionPlan(province, PROVINCE_NAME, codes.PROVINCE, None)]
    upper_names: set[str] = set()
    cities = [
        RegionPlan(
            f"{province[:2]}{i + 1:02d}00",
            _unique_name(rng, upper_names, "市"),
            codes.CITY,
            province,
        )
        for i in range(params.cities)
    ]
    districts: list[RegionPlan] = []
    for city, count in zip(
        cities, _spread(params.districts, len(cities), MAX_DISTRICTS_PER_CITY, rng), strict=True
    ):
        for j in range(count):
            suffix = "区" if rng.random() < 0.4 else "县"
            name = _unique_name(rng, upper_names, suffix)
            districts.append(
                RegionPlan(f"{city.code[:4]}{j + 1:02d}", name, codes.DISTRICT, city.code)
            )
    streets: list[RegionPlan] = []
    per_district = _spread(params.streets, len(districts), MAX_SUBDISTRICTS + MAX_TOWNS, rng)
    for district, count in zip(districts, per_district, strict=True):
        share = 0.8 if district.name.endswith("区") else 0.2
        subdistricts = min(MAX_SUBDISTRICTS, max(count - MAX_TOWNS, round(count * share)))
        parts = list(range(1, subdistricts + 1))
        parts += range(FIRST_TOWN, FIRST_TOWN + count - subdistricts)
        names: set[str] = set()
        for part in parts:
            suffix = "街道" if part < FIRST_TOWN else "镇"
            code = f"{district.code}{part:03d}000"
            streets.append(
                RegionPlan(code, _unique_name(rng, names, suffix), codes.STREET, district.code)
            )
    communities: list[RegionPlan] = []
    per_street = _spread(params.communities, len(streets), MAX_COMMUNITIES_PER_STREET, rng)
    for street, count in zip(streets, per_street, strict=True):
        is_town = street.name.endswith("镇")
        first = FIRST_VILLAGE if is_town else 1
        names = set()
        for part in range(first, first + count):
            code = f"{street.code[:9]}{part:03d}"
            name = _unique_name(rng, names, "村" if is_town else "社区")
            communities.append(RegionPlan(code, name, codes.COMMUNITY, street.code))
    return regions + cities + districts + streets + communities


def _plan_departments(regions: list[RegionPlan]) -> list[DepartmentPlan]:
    # The nine kinds at the province, then the nine at each city, in that order: index 9c + k.
    departments: list[DepartmentPlan] = []
    for region in regions:
        if region.level not in (codes.PROVINCE, codes.CITY):
            continue
        provincial = region.level == codes.PROVINCE
        for kind, p_name, p_short, c_name, c_short in _DEPARTMENTS:
            name, short = (p_name, p_short) if provincial else (c_name, c_short)
            departments.append(
                DepartmentPlan(
                    kind, name.format(region.name), short.format(region.name), region.code
                )
            )
    return departments


def _plan_sentinels(
    params: GeneratorParams, communities: list[RegionPlan], rng: random.Random
) -> list[SentinelPlan]:
    sentinels = [
        SentinelPlan(SentinelKind.COMMUNITY, c.name, c.code, c.parent or "", "")
        for c in communities
    ]
    school_names: dict[int, set[str]] = {}
    for _i in range(params.schools):
        at = rng.randrange(len(communities))
        community = communities[at]
        name = _unique_name(rng, school_names.setdefault(at, set()), rng.choice(_SCHOOL_SUFFIXES))
        address = (
            f"{rng.choice(_PLACE_SYLLABLES)}{rng.choice(_PLACE_SYLLABLES)}路{rng.randint(1, 300)}号"
        )
        sentinels.append(
            SentinelPlan(SentinelKind.SCHOOL, name, community.code, community.parent or "", address)
        )
    return sentinels


def _plan_people(
    params: GeneratorParams,
    regions: list[RegionPlan],
    sentinels: list[SentinelPlan],
    rng: random.Random,
) -> tuple[list[UserPlan], list[AssignmentPlan]]:
    by_level: dict[str, list[RegionPlan]] = {}
    for region in regions:
        by_level.setdefault(region.level, []).append(region)
    province = by_level[codes.PROVINCE][0]
    cities = by_level[codes.CITY]
    communities = by_level[codes.COMMUNITY]
    city_index = {c.code: i for i, c in enumerate(cities)}
    kinds = len(_DEPARTMENTS)
    supervisor_places = [province, *cities, *by_level[codes.DISTRICT]]
    # An officer works for a provincial department at the province, or for a city's department
    # at the city or one of its districts: always inside the department's jurisdiction.
    officer_slots = [(k, province.code) for k in range(kinds)]
    for place in cities + by_level[codes.DISTRICT]:
        city = city_index[place.code if place.level == codes.CITY else place.parent or ""]
        officer_slots += [(kinds * (city + 1) + k, place.code) for k in range(kinds)]
    schools = [i for i, s in enumerate(sentinels) if s.kind == SentinelKind.SCHOOL]

    budget = params.users

    def take(wanted: int) -> int:
        nonlocal budget
        granted = min(wanted, budget)
        budget -= granted
        return granted

    admins = take(len(_ADMIN_ROLES))
    supervisors = take(len(supervisor_places))
    officers = take(min(len(officer_slots), max(kinds, params.users // 100)))
    coordinators = take(min(len(communities), params.users // 5))
    school_sentinels = take(min(len(schools), params.users // 20))
    inspectors = budget if params.inspectors is None else params.inspectors

    assignments: list[AssignmentPlan] = []

    def grant(
        role: str, region: str, department: int | None = None, sentinel: int | None = None
    ) -> None:
        assignments.append(AssignmentPlan(len(assignments), role, region, department, sentinel))

    for role in _ADMIN_ROLES[:admins]:
        grant(role, province.code)
    for place in supervisor_places[:supervisors]:
        grant(Role.SUPERVISOR, place.code)
    for slot in sorted(rng.sample(range(len(officer_slots)), officers)):
        department, place_code = officer_slots[slot]
        grant(Role.OFFICER, place_code, department=department)
    for at in sorted(rng.sample(range(len(communities)), coordinators)):
        grant(Role.COORDINATOR, communities[at].code)
    for at in sorted(rng.sample(schools, school_sentinels)):
        grant(Role.SCHOOL_SENTINEL, sentinels[at].region, sentinel=at)
    for _i in range(inspectors):
        grant(Role.INSPECTOR, communities[rng.randrange(len(communities))].code)

    width = max(6, len(str(params.users)))
    users = [
        UserPlan(f"{params.username_prefix}{i + 1:0{width}d}", _person_name(rng), _phone(rng))
        for i in range(len(assignments))
    ]
    return users, assignments


def plan_territory(params: GeneratorParams) -> Plan:
    """Decide every row of the synthetic province; the same parameters give the same plan."""
    params.check()
    # Reproducible data, not secrets: a seeded Mersenne Twister is what is wanted here.
    rng = random.Random(params.seed)  # noqa: S311
    regions = _plan_regions(params, rng)
    communities = [r for r in regions if r.level == codes.COMMUNITY]
    street_communities: dict[str, list[str]] = {}
    for community in communities:
        street_communities.setdefault(community.parent or "", []).append(community.code)
    areas = [
        AreaPlan(f"{s.name}片区", f"{s.name}学区", s.code, tuple(street_communities[s.code]))
        for s in regions
        if s.level == codes.STREET
    ]
    departments = _plan_departments(regions)
    sentinels = _plan_sentinels(params, communities, rng)
    users, assignments = _plan_people(params, regions, sentinels, rng)
    return Plan(params, regions, departments, areas, sentinels, users, assignments)


@dataclass(frozen=True)
class Objects:
    """Unsaved model instances of a plan, linked to each other, in the order they are inserted."""

    regions_by_level: list[list[Region]]
    departments: list[Department]
    areas: list[Area]
    area_communities: list[models.Model]
    sentinels: list[Sentinel]
    users: list[User]
    assignments: list[Assignment]

    def batches(self) -> list[Sequence[models.Model]]:
        """Lists of one model each, parents before children (each list is one bulk insert)."""
        return [
            *self.regions_by_level,
            self.departments,
            self.areas,
            self.area_communities,
            self.sentinels,
            self.users,
            self.assignments,
        ]


def build_objects(plan: Plan, *, password_hash: str, now: datetime) -> Objects:
    """Model instances for every row of the plan; foreign keys point at instances, not ids."""
    regions: dict[str, Region] = {}
    by_level: list[list[Region]] = []
    for row in plan.regions:
        parent = regions[row.parent] if row.parent else None
        region = Region(
            code=row.code,
            name=row.name,
            level=row.level,
            parent=parent,
            path=region_path(parent, row.code),
            depth=0 if parent is None else parent.depth + 1,
            is_synthetic=True,
        )
        regions[row.code] = region
        if not by_level or by_level[-1][0].level != row.level:
            by_level.append([])
        by_level[-1].append(region)
    departments = [
        Department(
            kind=d.kind,
            name=d.name,
            short_name=d.short_name,
            jurisdiction=regions[d.jurisdiction],
        )
        for d in plan.departments
    ]
    areas: dict[str, Area] = {}
    through = Area.communities.through
    area_communities: list[models.Model] = []
    for a in plan.areas:
        area = Area(
            name=a.name,
            school_district=a.school_district,
            region=regions[a.region],
            is_synthetic=True,
        )
        areas[a.region] = area
        area_communities += [through(area=area, region=regions[c]) for c in a.communities]
    sentinels = [
        Sentinel(
            kind=s.kind,
            name=s.name,
            region=regions[s.region],
            area=areas[s.area],
            address=s.address,
            is_synthetic=True,
        )
        for s in plan.sentinels
    ]
    users = [
        User(
            username=u.username,
            display_name=u.display_name,
            phone=u.phone,
            password=password_hash,
            date_joined=now,
            is_synthetic=True,
            is_demo=False,
        )
        for u in plan.users
    ]
    assignments = [
        Assignment(
            user=users[a.user],
            role=a.role,
            region=regions[a.region],
            department=departments[a.department] if a.department is not None else None,
            sentinel=sentinels[a.sentinel] if a.sentinel is not None else None,
        )
        for a in plan.assignments
    ]
    return Objects(
        by_level, departments, list(areas.values()), area_communities, sentinels, users, assignments
    )


@dataclass(frozen=True)
class Generated:
    """What one generation wrote."""

    province: Region
    counts: dict[str, int]
    roles: dict[str, int]
    rows: int


def territory_generate(params: GeneratorParams, *, password: str | None = None) -> Generated:
    """Write a synthetic province in one transaction; refuse if its province or accounts exist.

    Every account gets the same password, hashed once (hashing 100,000 passwords would take
    hours); without one, the accounts cannot sign in.
    """
    params.check()
    if password is not None:
        try:
            password_validation.validate_password(password)
        except ValidationError as exc:
            raise ServiceError(" ".join(exc.messages), field="password") from None
    with transaction.atomic():
        if Region.objects.filter(code=params.province).exists():
            raise ServiceError(
                _("Province %(code)s is already in the territory; choose another province code.")
                % {"code": params.province},
                field="province",
            )
        if User.objects.filter(username__startswith=params.username_prefix).exists():
            raise ServiceError(
                _("Accounts named %(prefix)s… already exist; choose another province code.")
                % {"prefix": params.username_prefix},
                field="province",
            )
        plan = plan_territory(params)
        objects = build_objects(plan, password_hash=make_password(password), now=timezone.now())
        rows = 0
        for batch in objects.batches():
            if batch:
                type(batch[0])._default_manager.bulk_create(batch, batch_size=BATCH_SIZE)
                rows += len(batch)
        province = objects.regions_by_level[0][0]
        # One event for the whole generation, not one per row: the rows are synthetic, written by
        # one command in one transaction, and the recorded parameters and seed regenerate every one
        # of them, while 270,000 events would bury the real trail and double the writes.
        event_record(actor=None, verb="territory.generated", obj=province, after=plan.summary())
    return Generated(province, plan.counts(), plan.roles(), rows + 1)
