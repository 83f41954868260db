"""The permission matrix: each persona × object type × in and out of scope × list, export, detail.

The matrix is data (``READS`` and ``WRITES``); the tests below only walk it. Out of scope is a
404, never a 403; a page the role may not use at all is a 404 as well. Every refused write is
checked against a fingerprint of the database taken before the request: nothing may change.

``build_elsewhere``, ``build_targets`` and ``db_state`` are shared with the selector, policy and
query-count tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import get_resolver, reverse
from openpyxl import load_workbook

from bihuan.accounts import services as account_services
from bihuan.accounts.models import Assignment, Department, User
from bihuan.audit.models import Event
from bihuan.audit.services import event_record
from bihuan.demo.loader import load_demo
from bihuan.territory import imports
from bihuan.territory import services as territory_services
from bihuan.territory.models import (
    Area,
    AreaResponsible,
    Region,
    RegionImport,
    ResponsiblePartyKind,
    Sentinel,
)

# Places outside the parts of the demo city the personas hold: 书院街道 is a sibling street of
# 广场街道, 孝昌县 a sibling district of 孝南区, 武汉市 a sibling city of 孝感市.
# (code, name, parent code, level, synthetic)
ELSEWHERE_REGIONS: list[tuple[str, str, str, str, bool]] = [
    ("420921100000", "孝昌示范镇", "420921", "street", True),
    ("420921100001", "孝昌示范社区", "420921100000", "community", True),
    ("420100", "武汉市", "420000", "city", False),
    ("420102", "江岸区", "420100", "district", False),
    ("420102001000", "江岸示范街道", "420102", "street", True),
    ("420102001001", "江岸示范社区", "420102001000", "community", True),
]
# (name, region code, community codes)
ELSEWHERE_AREAS: list[tuple[str, str, list[str]]] = [
    ("书院示范片区", "420902001000", ["420902001001"]),
    ("孝昌示范片区", "420921100000", ["420921100001"]),
    ("江岸示范片区", "420102001000", ["420102001001"]),
]
# (kind, name, community code, area name)
ELSEWHERE_SENTINELS: list[tuple[str, str, str, str]] = [
    ("community", "书院示范社区", "420902001001", "书院示范片区"),
    ("school", "孝昌示范小学", "420921100001", "孝昌示范片区"),
    ("school", "江岸示范小学", "420102001001", "江岸示范片区"),
]
# (kind, name, short name, jurisdiction code)
ELSEWHERE_DEPARTMENTS: list[tuple[str, str, str, str]] = [
    ("education", "湖北省教育厅", "省教育厅", "420000"),
    ("market", "孝昌县市场监督管理局", "孝昌县市场监管局", "420921"),
    ("market", "武汉市市场监督管理局", "武汉市市场监管局", "420100"),
]
# (username, display name, community code): each a coordinator of that community.
ELSEWHERE_USERS: list[tuple[str, str, str]] = [
    ("xiaochang", "孝昌协调员", "420921100001"),
    ("jiangan", "江岸协调员", "420102001001"),
]
MARKER_VERB = "matrix.marker"
NEW_PASSWORD = "Matrix@2027pw"


def build_elsewhere() -> None:
    """Add, through the services, records of every type outside the personas' places."""
    for code, name, parent, level, synthetic in ELSEWHERE_REGIONS:
        territory_services.region_upsert(
            actor=None,
            code=code,
            name=name,
            level=level,
            parent_code=parent,
            is_synthetic=synthetic,
        )
    regions = {r.code: r for r in Region.objects.all()}
    for name, region_code, communities in ELSEWHERE_AREAS:
        territory_services.area_create(
            actor=None,
            name=name,
            region=regions[region_code],
            communities=[regions[c] for c in communities],
            is_synthetic=True,
        )
    for kind, name, community, area_name in ELSEWHERE_SENTINELS:
        territory_services.sentinel_create(
            actor=None,
            kind=kind,
            name=name,
            region=regions[community],
            area=Area.objects.get(name=area_name),
            is_synthetic=True,
        )
    for kind, name, short_name, jurisdiction in ELSEWHERE_DEPARTMENTS:
        account_services.department_upsert(
            actor=None,
            kind=kind,
            name=name,
            short_name=short_name,
            jurisdiction=regions[jurisdiction],
        )
    for username, display_name, community in ELSEWHERE_USERS:
        user = account_services.user_create(
            actor=None,
            username=username,
            password=NEW_PASSWORD,
            display_name=display_name,
            is_synthetic=True,
        )
        account_services.assignment_grant(
            actor=None, user=user, role="coordinator", region=regions[community]
        )
    # Written last, so it heads the audit log.
    event_record(actor=None, verb=MARKER_VERB, object_repr="matrix")


def db_state() -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of the accounts, territory and audit tables."""
    state: dict[str, tuple[int, str]] = {}
    for label in ("accounts", "territory", "audit"):
        for model in apps.get_app_config(label).get_models():
            rows = list(model._default_manager.order_by("pk").values_list())
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()
            state[model._meta.label] = (len(rows), digest)
    return state


@contextmanager
def city_for_module(django_db_blocker: Any, *, elsewhere: bool = True) -> Iterator[None]:
    """The demo city (and ``build_elsewhere``), written once for a module, rolled back after it.

    Each test still runs in its own savepoint inside this transaction (pytest-django's ``db``),
    so a test that writes leaves the next one the same city. Loading the city for every one of
    several hundred cases would take minutes on PostgreSQL.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo()
        if elsewhere:
            build_elsewhere()
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


# The persona fixtures of conftest.py, by name (tests fetch them with request.getfixturevalue).
PERSONAS = [
    "admin_system",
    "admin_security",
    "admin_audit",
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "coordinator_huaiyin",
    "inspector_wenchang",
    "officer_market",
    "school_tiyulu",
    "area_guangchang",
]


pytestmark = pytest.mark.django_db


# --- Reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """An object type: how to find a record by its natural key, and its list and detail URLs."""

    name: str
    find: Callable[[str], Any]
    list_url: Callable[[Any], str]
    # What marks the record as a row of the list page, and as a row of its XLSX export.
    list_mark: Callable[[Any], str]
    export_cell: Callable[[Any], str]
    detail_url: Callable[[Any], str] | None = None

    def export_url(self, record: Any) -> str:
        url = self.list_url(record)
        return f"{url}{'&' if '?' in url else '?'}format=xlsx"


def _link(url: str) -> str:
    return f'href="{url}"'


def _region_url(r: Region) -> str:
    return reverse("territory:region", args=[r.code])


def _area_url(a: Area) -> str:
    return reverse("territory:area", args=[a.pk])


def _sentinel_url(s: Sentinel) -> str:
    return reverse("territory:sentinel", args=[s.pk])


def _department_url(d: Department) -> str:
    return reverse("accounts:department", args=[d.pk])


def _user_url(u: User) -> str:
    return reverse("accounts:user", args=[u.pk])


KINDS: dict[str, Kind] = {
    "region": Kind(
        "region",
        find=lambda key: Region.objects.get(code=key),
        # The tree shows only the tops; the search lists any region by its code.
        list_url=lambda r: f"{reverse('territory:regions')}?q={r.code}",
        list_mark=lambda r: _link(_region_url(r)),
        export_cell=lambda r: r.code,
        detail_url=_region_url,
    ),
    "area": Kind(
        "area",
        find=lambda key: Area.objects.get(name=key),
        list_url=lambda a: reverse("territory:areas"),
        list_mark=lambda a: _link(_area_url(a)),
        export_cell=lambda a: a.name,
        detail_url=_area_url,
    ),
    "sentinel": Kind(
        "sentinel",
        find=lambda key: Sentinel.objects.get(name=key),
        list_url=lambda s: reverse("territory:sentinels"),
        list_mark=lambda s: _link(_sentinel_url(s)),
        export_cell=lambda s: s.name,
        detail_url=_sentinel_url,
    ),
    "department": Kind(
        "department",
        find=lambda key: Department.objects.get(name=key),
        list_url=lambda d: reverse("accounts:departments"),
        list_mark=lambda d: _link(_department_url(d)),
        export_cell=lambda d: d.name,
        detail_url=_department_url,
    ),
    "user": Kind(
        "user",
        find=lambda key: User.objects.get(username=key),
        list_url=lambda u: reverse("accounts:users"),
        list_mark=lambda u: _link(_user_url(u)),
        export_cell=lambda u: u.username,
        detail_url=_user_url,
    ),
    "event": Kind(
        "event",
        find=lambda key: Event.objects.filter(verb=key).latest("pk"),
        list_url=lambda e: reverse("audit:events"),
        list_mark=lambda e: f"<td>{e.verb}</td>",
        export_cell=lambda e: e.verb,
    ),
}


@dataclass(frozen=True)
class Reads:
    """What one persona sees of one object type.

    ``usable=False``: the role may not use the pages at all, so the list and every detail page
    (even of a record in the persona's place, listed in ``hidden``) answer 404.
    """

    persona: str
    kind: str
    shown: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    usable: bool = True


GC_AREA, SY_AREA, XC_AREA, JA_AREA = "广场学区片区", "书院示范片区", "孝昌示范片区", "江岸示范片区"
CITY_EDU, CITY_MARKET = "孝感市教育局", "孝感市市场监督管理局"
XN_EDU, XN_MARKET = "孝南区教育局", "孝南区市场监督管理局"
PROVINCE_EDU, XC_MARKET, WH_MARKET = "湖北省教育厅", "孝昌县市场监督管理局", "武汉市市场监督管理局"

READS: list[Reads] = [
    # Regions: a grant covers its subtree, never the places above or beside it.
    Reads("admin_system", "region", shown=("420000", "420102001001")),
    Reads("admin_security", "region", shown=("420000", "420102001001")),
    Reads("admin_audit", "region", hidden=("420900", "420902003001"), usable=False),
    Reads("supervisor_city", "region", ("420900", "420921100001"), ("420000", "420100")),
    Reads("supervisor_xiaonan", "region", ("420902", "420902003001"), ("420921", "420900")),
    Reads("coordinator_wenchang", "region", ("420902003001",), ("420902003002", "420902003000")),
    Reads("coordinator_huaiyin", "region", ("420902003002",), ("420902003001",)),
    Reads("inspector_wenchang", "region", ("420902003001",), ("420902003003",)),
    Reads("officer_market", "region", ("420900", "420902003001"), ("420000", "420100")),
    Reads("school_tiyulu", "region", ("420902003001",), ("420902003002",)),
    Reads("area_guangchang", "region", ("420902003000", "420902003003"), ("420902001000",)),
    # Areas: those lying in the place, and those covering one of its communities.
    Reads("admin_system", "area", shown=(GC_AREA, JA_AREA)),
    Reads("admin_security", "area", shown=(GC_AREA, JA_AREA)),
    Reads("admin_audit", "area", hidden=(GC_AREA,), usable=False),
    Reads("supervisor_city", "area", (GC_AREA, XC_AREA), (JA_AREA,)),
    Reads("supervisor_xiaonan", "area", (GC_AREA, SY_AREA), (XC_AREA,)),
    Reads("coordinator_wenchang", "area", (GC_AREA,), (SY_AREA, XC_AREA)),
    Reads("coordinator_huaiyin", "area", (GC_AREA,), (SY_AREA,)),
    Reads("inspector_wenchang", "area", (GC_AREA,), (SY_AREA,)),
    Reads("officer_market", "area", (GC_AREA, XC_AREA), (JA_AREA,)),
    Reads("school_tiyulu", "area", (GC_AREA,), (SY_AREA,)),
    Reads("area_guangchang", "area", (GC_AREA,), (SY_AREA,)),
    # Sentinels: those of the place (and a school sentinel's own school).
    Reads("admin_system", "sentinel", shown=("体育路学校", "江岸示范小学")),
    Reads("admin_security", "sentinel", shown=("体育路学校", "江岸示范小学")),
    Reads("admin_audit", "sentinel", hidden=("体育路学校",), usable=False),
    Reads("supervisor_city", "sentinel", ("体育路学校", "孝昌示范小学"), ("江岸示范小学",)),
    Reads("supervisor_xiaonan", "sentinel", ("体育路学校", "书院示范社区"), ("孝昌示范小学",)),
    Reads(
        "coordinator_wenchang", "sentinel", ("文昌社区", "体育路学校"), ("广场示范小学", "槐荫社区")
    ),
    Reads("coordinator_huaiyin", "sentinel", ("槐荫社区", "广场示范小学"), ("体育路学校",)),
    Reads("inspector_wenchang", "sentinel", ("体育路学校",), ("广场示范小学",)),
    Reads("officer_market", "sentinel", ("体育路学校", "孝昌示范小学"), ("江岸示范小学",)),
    Reads("school_tiyulu", "sentinel", ("体育路学校", "文昌社区"), ("广场示范小学", "乾坤社区")),
    Reads("area_guangchang", "sentinel", ("体育路学校", "乾坤社区"), ("书院示范社区",)),
    # Departments: those whose jurisdiction covers the place or lies within it.
    Reads("admin_system", "department", shown=(CITY_EDU, WH_MARKET)),
    Reads("admin_security", "department", shown=(CITY_EDU, WH_MARKET)),
    Reads("admin_audit", "department", hidden=(CITY_EDU,), usable=False),
    Reads("supervisor_city", "department", (PROVINCE_EDU, CITY_EDU, XC_MARKET), (WH_MARKET,)),
    Reads("supervisor_xiaonan", "department", (CITY_EDU, XN_EDU), (XC_MARKET,)),
    Reads("coordinator_wenchang", "department", (PROVINCE_EDU, CITY_EDU, XN_EDU), (XC_MARKET,)),
    Reads("coordinator_huaiyin", "department", (CITY_EDU, XN_MARKET), (XC_MARKET,)),
    Reads("inspector_wenchang", "department", (CITY_EDU, XN_EDU), (XC_MARKET,)),
    Reads("officer_market", "department", (CITY_MARKET, XN_MARKET, XC_MARKET), (WH_MARKET,)),
    Reads("school_tiyulu", "department", (XN_EDU,), (XC_MARKET,)),
    Reads("area_guangchang", "department", (XN_MARKET,), (XC_MARKET,)),
    # Users: administrators see every account; supervisors and coordinators the people of their
    # place (never the administrators); the other roles have no user pages at all.
    Reads("admin_system", "user", shown=("auditor", "jiangan")),
    Reads("admin_security", "user", shown=("admin", "jiangan")),
    Reads("admin_audit", "user", hidden=("auditor", "admin"), usable=False),
    Reads("supervisor_city", "user", ("market", "xiaochang"), ("admin", "jiangan")),
    Reads("supervisor_xiaonan", "user", ("wenchang", "pianqu"), ("market", "xiaochang")),
    Reads("coordinator_wenchang", "user", ("yangtiezhu", "school"), ("huaiyin", "xiaonan")),
    Reads("coordinator_huaiyin", "user", ("huaiyin",), ("yangtiezhu", "wenchang")),
    Reads("inspector_wenchang", "user", hidden=("yangtiezhu", "inspector2"), usable=False),
    Reads("officer_market", "user", hidden=("market", "yangtiezhu"), usable=False),
    Reads("school_tiyulu", "user", hidden=("school",), usable=False),
    Reads("area_guangchang", "user", hidden=("pianqu",), usable=False),
    # Events: only the audit administrator reads the log, and all of it.
    Reads("admin_audit", "event", shown=(MARKER_VERB,)),
    *[
        Reads(persona, "event", hidden=(MARKER_VERB,), usable=False)
        for persona in PERSONAS
        if persona != "admin_audit"
    ],
]


def _cases(*, usable: bool, attr: str, with_detail: bool = False) -> list[Any]:
    cases = []
    for reads in READS:
        if reads.usable != usable:
            continue
        if with_detail and KINDS[reads.kind].detail_url is None:
            continue
        for key in getattr(reads, attr):
            cases.append(
                pytest.param(
                    reads.persona, reads.kind, key, id=f"{reads.persona}-{reads.kind}-{key}"
                )
            )
    return cases


def _persona_kinds(*, usable: bool) -> list[Any]:
    return [
        pytest.param(r.persona, r.kind, id=f"{r.persona}-{r.kind}")
        for r in READS
        if r.usable == usable
    ]


def _get(client: Client, persona: User, url: str) -> Any:
    client.force_login(persona)
    return client.get(url)


def test_matrix_names_every_persona_for_every_object_type() -> None:
    covered = {(r.persona, r.kind) for r in READS}
    assert covered == {(p, k) for p in PERSONAS for k in KINDS}


@pytest.mark.parametrize(("persona", "kind", "key"), _cases(usable=True, attr="shown"))
def test_list_shows_a_record_in_scope(
    client: Client, request: pytest.FixtureRequest, persona: str, kind: str, key: str
) -> None:
    record = KINDS[kind].find(key)
    response = _get(client, request.getfixturevalue(persona), KINDS[kind].list_url(record))
    assert response.status_code == 200
    assert KINDS[kind].list_mark(record) in response.content.decode()


@pytest.mark.parametrize(("persona", "kind", "key"), _cases(usable=True, attr="hidden"))
def test_list_leaves_out_a_record_out_of_scope(
    client: Client, request: pytest.FixtureRequest, persona: str, kind: str, key: str
) -> None:
    record = KINDS[kind].find(key)
    response = _get(client, request.getfixturevalue(persona), KINDS[kind].list_url(record))
    assert response.status_code == 200
    assert KINDS[kind].list_mark(record) not in response.content.decode()


def _export_cells(response: Any) -> set[str]:
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    return {str(v) for row in workbook.worksheets[0].iter_rows(values_only=True) for v in row}


@pytest.mark.parametrize(("persona", "kind", "key"), _cases(usable=True, attr="shown"))
def test_export_holds_a_record_in_scope(
    client: Client, request: pytest.FixtureRequest, persona: str, kind: str, key: str
) -> None:
    record = KINDS[kind].find(key)
    response = _get(client, request.getfixturevalue(persona), KINDS[kind].export_url(record))
    assert response.status_code == 200
    assert KINDS[kind].export_cell(record) in _export_cells(response)


@pytest.mark.parametrize(("persona", "kind", "key"), _cases(usable=True, attr="hidden"))
def test_export_leaves_out_a_record_out_of_scope(
    client: Client, request: pytest.FixtureRequest, persona: str, kind: str, key: str
) -> None:
    record = KINDS[kind].find(key)
    response = _get(client, request.getfixturevalue(persona), KINDS[kind].export_url(record))
    assert response.status_code == 200
    assert KINDS[kind].export_cell(record) not in _export_cells(response)


@pytest.mark.parametrize(("persona", "kind"), _persona_kinds(usable=False))
def test_list_and_its_export_are_404_for_a_role_that_may_not_use_them(
    client: Client, request: pytest.FixtureRequest, persona: str, kind: str
) -> None:
    reads = next(r for r in READS if (r.persona, r.kind) == (persona, kind))
    record = KINDS[kind].find(reads.hidden[0])
    client.force_login(request.getfixturevalue(persona))
    assert client.get(KINDS[kind].list_url(record)).status_code == 404
    assert client.get(KINDS[kind].export_url(record)).status_code == 404


@pytest.mark.parametrize(
    ("persona", "kind", "key"), _cases(usable=True, attr="shown", with_detail=True)
)
def test_detail_opens_for_a_record_in_scope(
    client: Client, request: pytest.FixtureRequest, persona: str, kind: str, key: str
) -> None:
    detail_url = KINDS[kind].detail_url
    assert detail_url is not None
    response = _get(client, request.getfixturevalue(persona), detail_url(KINDS[kind].find(key)))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("persona", "kind", "key"),
    _cases(usable=True, attr="hidden", with_detail=True)
    + _cases(usable=False, attr="hidden", with_detail=True),
)
def test_detail_is_404_for_a_record_out_of_scope(
    client: Client, request: pytest.FixtureRequest, persona: str, kind: str, key: str
) -> None:
    detail_url = KINDS[kind].detail_url
    assert detail_url is not None
    response = _get(client, request.getfixturevalue(persona), detail_url(KINDS[kind].find(key)))
    assert response.status_code == 404


def test_out_of_scope_answers_like_a_record_that_does_not_exist(
    client: Client, coordinator_wenchang: User
) -> None:
    client.force_login(coordinator_wenchang)
    out_of_scope = client.get(reverse("territory:region", args=["420902003002"]))
    missing = client.get(reverse("territory:region", args=["420902003999"]))
    assert out_of_scope.status_code == missing.status_code == 404
    # The same page (its CSRF token aside), so the answer does not confirm the record exists.
    assert [t.name for t in out_of_scope.templates] == [t.name for t in missing.templates]


# --- Writes -----------------------------------------------------------------------------------


@dataclass
class Targets:
    """The records the write endpoints act on, each in a state the write would change."""

    user: User
    assignment: Assignment
    region_import: RegionImport
    party: AreaResponsible  # an active responsible party of 广场学区片区


def regions_csv() -> SimpleUploadedFile:
    content = "code,name,parent code,level\n420902003004,矩阵社区,420902003000,community\n"
    return SimpleUploadedFile("regions.csv", content.encode(), content_type="text/csv")


def build_targets(admin_system: User) -> Targets:
    """inspector2 locked out and holding a role; a checked import; a named responsible party."""
    for _ in range(settings.LOCKOUT_THRESHOLD):
        account_services.login_attempt(username="inspector2", password="wrong password")
    user = User.objects.get(username="inspector2")
    assert user.is_locked
    record = imports.region_import_create(actor=admin_system, upload=regions_csv())
    assert record.error_count == 0
    return Targets(
        user=user,
        assignment=Assignment.objects.get(user=user, role="inspector", is_active=True),
        region_import=record,
        party=AreaResponsible.objects.filter(area__name=GC_AREA, is_active=True).earliest("pk"),
    )


@pytest.fixture
def targets(admin_system: User) -> Targets:
    return build_targets(admin_system)


@dataclass(frozen=True)
class Write:
    """A POST endpoint, the personas whose roles allow it, and a request that would succeed."""

    route: str
    allowed: tuple[str, ...]
    args: Callable[[Targets], list[int]]
    data: Callable[[Targets], dict[str, Any]]

    @property
    def name(self) -> str:
        return self.route.split(":")[1]

    def url(self, targets: Targets) -> str:
        return reverse(self.route, args=self.args(targets))


SYSTEM, SECURITY = ("admin_system",), ("admin_security",)
RESPONSIBLES_EDITORS = ("admin_system", "supervisor_city", "supervisor_xiaonan")

WRITES: list[Write] = [
    Write(
        "accounts:user_create",
        SYSTEM,
        lambda t: [],
        lambda t: {"username": "newcomer", "display_name": "新人", "password": NEW_PASSWORD},
    ),
    Write("accounts:user_set_active", SYSTEM, lambda t: [t.user.pk], lambda t: {"active": "0"}),
    Write(
        "accounts:user_reset_password",
        SYSTEM,
        lambda t: [t.user.pk],
        lambda t: {"password": NEW_PASSWORD},
    ),
    Write("accounts:user_unlock", SECURITY, lambda t: [t.user.pk], lambda t: {}),
    Write(
        "accounts:assignment_grant",
        SECURITY,
        lambda t: [t.user.pk],
        lambda t: {"role": "inspector", "region_code": "420902003002"},
    ),
    Write("accounts:assignment_end", SECURITY, lambda t: [t.assignment.pk], lambda t: {}),
    Write(
        "accounts:department_save",
        SYSTEM,
        lambda t: [],
        lambda t: {
            "kind": "culture_tourism",
            "name": "孝南区文化和旅游局",
            "short_name": "孝南区文旅局",
            "jurisdiction_code": "420902",
        },
    ),
    Write("territory:import", SYSTEM, lambda t: [], lambda t: {"file": regions_csv()}),
    Write("territory:import_apply", SYSTEM, lambda t: [t.region_import.pk], lambda t: {}),
    Write(
        "territory:area_responsible_add",
        RESPONSIBLES_EDITORS,
        lambda t: [t.party.area_id],
        lambda t: {"kind": t.party.kind_id, "name": "矩阵责任人"},
    ),
    Write(
        "territory:area_responsible_end",
        RESPONSIBLES_EDITORS,
        lambda t: [t.party.area_id, t.party.pk],
        lambda t: {},
    ),
    Write(
        "territory:responsible_kinds",
        SYSTEM,
        lambda t: [],
        lambda t: {"code": "matrix", "name": "矩阵"},
    ),
    Write(
        "territory:responsible_kind_toggle",
        SYSTEM,
        lambda t: [t.party.kind_id],
        lambda t: {"active": "0"},
    ),
    Write("audit:chain_verify", ("admin_audit",), lambda t: [], lambda t: {}),
]


def _refused_writes() -> list[Any]:
    return [
        pytest.param(write, persona, id=f"{write.name}-{persona}")
        for write in WRITES
        for persona in PERSONAS
        if persona not in write.allowed
    ]


def _allowed_writes() -> list[Any]:
    return [
        pytest.param(write, persona, id=f"{write.name}-{persona}")
        for write in WRITES
        for persona in write.allowed
    ]


# Pages that accept a POST from anyone signed in (or not yet), or only read.
NOT_ROLE_WRITES = {
    "accounts:home",
    "accounts:login",
    "accounts:logout",
    # One's own second factor and sessions (self-service, scoped to oneself).
    "accounts:login_code",
    "accounts:second_factor",
    "accounts:second_factor_disable",
    "accounts:my_sessions",
    "accounts:session_end",
    "accounts:sessions",
    # Role-gated, but an allowed request only writes when the target has a device or sessions:
    # their matrices are in test_otp.py and test_sessions.py, and in core/access_matrix.py.
    "accounts:user_second_factor_reset",
    "accounts:user_sessions_end",
    "accounts:password_change",
    "accounts:users",
    "accounts:user",
    "accounts:departments",
    "accounts:department",
    "territory:regions",
    "territory:region",
    "territory:region_children",
    "territory:areas",
    "territory:area",
    "territory:sentinels",
    "territory:sentinel",
    "territory:import_template",
    "territory:import_detail",
}


def test_matrix_names_every_page_that_writes() -> None:
    # A new POST endpoint must join WRITES (or be declared read-only above) to pass.
    names = set()
    for namespace in ("accounts", "territory", "audit"):
        resolver = get_resolver().namespace_dict[namespace][1]
        names |= {f"{namespace}:{n}" for n in resolver.reverse_dict if isinstance(n, str)}
    assert names - NOT_ROLE_WRITES - {"audit:events"} == {w.route for w in WRITES}


@pytest.mark.parametrize(("write", "persona"), _refused_writes())
def test_refused_write_is_404_and_changes_nothing(
    client: Client, request: pytest.FixtureRequest, targets: Targets, write: Write, persona: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    before = db_state()
    response = client.post(write.url(targets), write.data(targets))
    assert response.status_code == 404
    assert db_state() == before


@pytest.mark.parametrize(("write", "persona"), _allowed_writes())
def test_allowed_write_changes_the_database(
    client: Client, request: pytest.FixtureRequest, targets: Targets, write: Write, persona: str
) -> None:
    # The control of the test above: the same request from a role that may make it does write.
    client.force_login(request.getfixturevalue(persona))
    before = db_state()
    response = client.post(write.url(targets), write.data(targets))
    assert response.status_code == 302
    assert db_state() != before


@pytest.mark.parametrize("name", ["area_responsible_add", "area_responsible_end"])
def test_supervisor_editing_an_area_out_of_scope_gets_404_and_changes_nothing(
    client: Client, supervisor_xiaonan: User, targets: Targets, name: str
) -> None:
    area = Area.objects.get(name=XC_AREA)
    party = territory_services.area_responsible_add(
        actor=None,
        area=area,
        kind=ResponsiblePartyKind.objects.get(code="bureau_official"),
        name="孝昌责任人",
    )
    write = next(w for w in WRITES if w.name == name)
    out_of_scope = dataclasses.replace(targets, party=party)
    client.force_login(supervisor_xiaonan)
    before = db_state()
    response = client.post(write.url(out_of_scope), write.data(out_of_scope))
    assert response.status_code == 404
    assert db_state() == before


def test_import_of_another_system_admin_is_404_and_stays_unapplied(
    client: Client, targets: Targets
) -> None:
    colleague = account_services.user_create(
        actor=None,
        username="admin2",
        password=NEW_PASSWORD,
        display_name="第二系统管理员",
        is_demo=True,
    )
    account_services.assignment_grant(
        actor=None,
        user=colleague,
        role="system_admin",
        region=Region.objects.get(code="420900"),
    )
    client.force_login(colleague)
    before = db_state()
    url = reverse("territory:import_apply", args=[targets.region_import.pk])
    response = client.post(url)
    assert response.status_code == 404
    assert db_state() == before
