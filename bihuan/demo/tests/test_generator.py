"""The synthetic province generator: valid codes and paths, reproducible rows, real scopes."""

from __future__ import annotations

from collections import Counter
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Model, QuerySet

from bihuan.accounts.models import Assignment, Department, Role, User
from bihuan.accounts.services import ROLE_LEVELS
from bihuan.audit.models import Event
from bihuan.core.errors import ServiceError
from bihuan.demo.generator import Generated, GeneratorParams, plan_territory, territory_generate
from bihuan.territory import codes
from bihuan.territory.models import Area, Region, Sentinel, SentinelKind
from bihuan.territory.selectors import regions_visible_to

SMALL = GeneratorParams(districts=2, streets=6, communities=30, schools=10, users=60, seed=7)
PROVINCE_PATH = f"{SMALL.province}/"


@pytest.fixture
def generated(db: None) -> Generated:
    return territory_generate(SMALL)


def _generated_regions() -> QuerySet[Region]:
    return Region.objects.filter(path__startswith=PROVINCE_PATH).select_related("parent")


def _recode(value: str | None) -> str | None:
    # Blank the province digits of a code or of each code in a path, so provinces compare.
    if value is None:
        return None
    return "/".join(part[2:] for part in value.split("/"))


def _dump(rows: QuerySet[Any, Any], fields: list[str], prefix: str) -> list[tuple[Any, ...]]:
    result = []
    for row in rows.values_list(*fields):
        values = []
        for name, value in zip(fields, row, strict=True):
            if name.endswith("code") or name.endswith("path"):
                value = _recode(value)
            elif name.endswith("username"):
                value = value.removeprefix(prefix)
            values.append(value)
        result.append(tuple(values))
    return sorted(result, key=repr)


def _written(params: GeneratorParams) -> dict[str, list[tuple[Any, ...]]]:
    """Every generated row of the province, in a form that does not depend on ids or its code."""
    path = f"{params.province}/"
    prefix = params.username_prefix
    return {
        "regions": _dump(
            Region.objects.filter(path__startswith=path),
            ["code", "name", "level", "parent__code", "path", "depth"],
            prefix,
        ),
        "departments": _dump(
            Department.objects.filter(jurisdiction__path__startswith=path),
            ["kind", "name", "short_name", "jurisdiction__code"],
            prefix,
        ),
        "areas": _dump(
            Area.objects.filter(region__path__startswith=path),
            ["name", "school_district", "region__code", "communities__code"],
            prefix,
        ),
        "sentinels": _dump(
            Sentinel.objects.filter(region__path__startswith=path),
            ["kind", "name", "region__code", "area__region__code", "address"],
            prefix,
        ),
        "users": _dump(
            User.objects.filter(username__startswith=prefix),
            ["username", "display_name", "phone"],
            prefix,
        ),
        "assignments": _dump(
            Assignment.objects.filter(user__username__startswith=prefix),
            [
                "user__username",
                "role",
                "region__code",
                "department__jurisdiction__code",
                "department__kind",
                "sentinel__name",
            ],
            prefix,
        ),
    }


def _table_counts() -> dict[str, int]:
    models: list[type[Model]] = [Region, Department, Area, Sentinel, User, Assignment, Event]
    return {model.__name__: model._default_manager.count() for model in models}


def test_counts_match_the_parameters(generated: Generated) -> None:
    levels = Counter(_generated_regions().values_list("level", flat=True))
    assert levels == {"province": 1, "city": 1, "district": 2, "street": 6, "community": 30}
    assert Sentinel.objects.filter(kind=SentinelKind.SCHOOL).count() == 10
    assert Sentinel.objects.filter(kind=SentinelKind.COMMUNITY).count() == 30
    assert Area.objects.count() == 6
    assert Department.objects.count() == 18
    assert User.objects.filter(username__startswith=SMALL.username_prefix).count() == 60
    assert Assignment.objects.count() == 60
    assert generated.rows == 40 + 18 + 6 + 30 + 40 + 60 + 60 + 1


def test_province_scale_plan_has_the_numbers_of_the_issue() -> None:
    counts = plan_territory(GeneratorParams()).counts()
    assert counts["districts"] == 100
    assert counts["streets"] == 1500
    assert counts["communities"] == 20000
    assert counts["schools"] == 10000
    assert counts["users"] == counts["assignments"] == 100000


def test_every_code_fits_its_level_and_its_parent(generated: Generated) -> None:
    for region in _generated_regions():
        parent = region.parent
        codes.check_code(region.code, region.level)
        codes.check_parent(
            region.code,
            region.level,
            parent.code if parent else None,
            parent.level if parent else None,
        )


@pytest.mark.parametrize(
    ("districts", "streets", "communities", "schools", "users"),
    [(1, 1, 1, 0, 0), (1, 199, 199, 0, 3), (12, 12, 12, 5, 10), (2, 2, 1598, 1, 1)],
)
def test_extreme_shapes_still_plan_valid_unique_codes(
    districts: int, streets: int, communities: int, schools: int, users: int
) -> None:
    plan = plan_territory(GeneratorParams(districts, streets, communities, schools, users))
    regions = {r.code: r for r in plan.regions}
    assert len(regions) == len(plan.regions)
    for region in plan.regions:
        parent = regions[region.parent] if region.parent else None
        codes.check_code(region.code, region.level)
        codes.check_parent(
            region.code,
            region.level,
            parent.code if parent else None,
            parent.level if parent else None,
        )


def test_every_path_is_the_parent_path_and_the_code(generated: Generated) -> None:
    for region in _generated_regions():
        parent = region.parent
        assert region.path == f"{parent.path if parent else ''}{region.code}/"
        assert region.depth == (parent.depth + 1 if parent else 0)


def test_every_generated_record_is_marked_synthetic(generated: Generated) -> None:
    assert not _generated_regions().filter(is_synthetic=False).exists()
    assert not Sentinel.objects.filter(is_synthetic=False).exists()
    assert not Area.objects.filter(is_synthetic=False).exists()
    users = User.objects.filter(username__startswith=SMALL.username_prefix)
    assert set(users.values_list("is_synthetic", "is_demo")) == {(True, False)}


def test_each_area_covers_the_communities_of_its_street(generated: Generated) -> None:
    for area in Area.objects.select_related("region").prefetch_related("communities"):
        expected = set(area.region.children.values_list("pk", flat=True))
        assert {c.pk for c in area.communities.all()} == expected


def test_every_assignment_fits_the_rules_of_a_grant(generated: Generated) -> None:
    rows = Assignment.objects.select_related("region", "department__jurisdiction", "sentinel")
    for assignment in rows:
        assert assignment.region.level in ROLE_LEVELS[assignment.role]
        if assignment.role == Role.OFFICER:
            assert assignment.department is not None
            assert assignment.region.path.startswith(assignment.department.jurisdiction.path)
        if assignment.role == Role.SCHOOL_SENTINEL:
            assert assignment.sentinel is not None
            assert assignment.sentinel.region_id == assignment.region_id


def test_most_accounts_are_inspectors_and_every_role_is_present(generated: Generated) -> None:
    roles = Counter(Assignment.objects.values_list("role", flat=True))
    assert set(roles) == set(Role.values) - {Role.AREA_RESPONSIBLE}
    assert roles[Role.INSPECTOR] == max(roles.values())


def test_accounts_share_one_unusable_password_by_default(generated: Generated) -> None:
    users = User.objects.filter(username__startswith=SMALL.username_prefix)
    assert users.values("password").distinct().count() == 1
    assert not any(user.has_usable_password() for user in users)


def test_a_given_password_lets_every_account_sign_in(db: None) -> None:
    territory_generate(SMALL, password="Synthetic#2026")
    users = User.objects.filter(username__startswith=SMALL.username_prefix)
    assert users.values("password").distinct().count() == 1
    assert users[0].check_password("Synthetic#2026")


def test_same_seed_plans_the_same_rows() -> None:
    assert plan_territory(SMALL) == plan_territory(SMALL)


def test_another_seed_plans_other_rows() -> None:
    other = GeneratorParams(**{**SMALL.__dict__, "seed": SMALL.seed + 1})
    first, second = plan_territory(SMALL), plan_territory(other)
    assert [r.name for r in first.regions] != [r.name for r in second.regions]
    assert [u.display_name for u in first.users] != [u.display_name for u in second.users]


def test_same_seed_writes_the_same_rows_into_another_province(generated: Generated) -> None:
    twin = GeneratorParams(**{**SMALL.__dict__, "province": "980000"})
    territory_generate(twin)
    assert _written(twin) == _written(SMALL)


def test_a_second_generation_into_the_same_province_is_refused_and_changes_nothing(
    generated: Generated,
) -> None:
    before = _table_counts()
    with pytest.raises(ServiceError, match="990000"):
        territory_generate(SMALL)
    assert _table_counts() == before


def test_a_real_province_code_is_refused(db: None) -> None:
    with pytest.raises(ServiceError):
        territory_generate(GeneratorParams(**{**SMALL.__dict__, "province": "420000"}))
    assert not Region.objects.exists()


def test_one_audit_event_records_the_generation(generated: Generated) -> None:
    event = Event.objects.get()
    assert event.verb == "territory.generated"
    assert event.object_id == str(generated.province.pk)
    assert event.after is not None
    assert event.after["counts"] == generated.counts
    assert event.after["parameters"]["seed"] == SMALL.seed


def test_a_generated_coordinator_sees_exactly_their_community(generated: Generated) -> None:
    assignment = Assignment.objects.filter(role=Role.COORDINATOR).select_related("user").first()
    assert assignment is not None
    assert list(regions_visible_to(assignment.user)) == [assignment.region]


def test_a_generated_district_supervisor_sees_the_district_subtree(generated: Generated) -> None:
    assignment = (
        Assignment.objects.filter(role=Role.SUPERVISOR, region__level="district")
        .select_related("user", "region")
        .first()
    )
    assert assignment is not None
    subtree = Region.objects.filter(path__startswith=assignment.region.path)
    assert set(regions_visible_to(assignment.user)) == set(subtree)
    assert subtree.filter(level="community").exists()


def test_the_command_generates_a_tiny_province(db: None) -> None:
    out = StringIO()
    call_command(
        "generate_territory",
        *("--districts", "1", "--streets", "2", "--communities", "3"),
        *("--schools", "1", "--users", "5", "--seed", "3"),
        stdout=out,
    )
    assert "rows/s" in out.getvalue()
    assert Region.objects.filter(level="community").count() == 3
    assert User.objects.filter(username__startswith="syn99-").count() == 5


def test_the_command_refuses_an_existing_province(generated: Generated) -> None:
    tiny = ("--districts", "1", "--streets", "1", "--communities", "1", "--users", "1")
    with pytest.raises(CommandError, match="990000"):
        call_command("generate_territory", *tiny, stdout=StringIO())
