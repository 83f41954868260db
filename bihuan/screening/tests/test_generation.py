"""Round generation: the pure assignment (coverage, balance, rotation) and the risk formula,
then the gathering against the database (pools, fallbacks, risk facts, previous inspectors)."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from bihuan.accounts.models import Assignment, Role, User
from bihuan.leads.tests.factories import lead_tip
from bihuan.registry.models import Category, Institution, Source, Status
from bihuan.screening import generation
from bihuan.screening.generation import assign, repeats, risk_score
from bihuan.screening.models import Round, TaskItem
from bihuan.screening.tests import factories
from bihuan.screening.workflow import InspectionStatus, RoundStatus
from bihuan.territory.models import Region

# ---------------------------------------------------------------------------- the pure function


@st.composite
def _rounds(draw: Any) -> tuple[dict[int, int], dict[int, list[int]], dict[int, int | None]]:
    """Pools of 0-6 inspectors, 0-30 institutions each, and some last-round inspectors."""
    pool_count = draw(st.integers(1, 4))
    pools: dict[int, list[int]] = {}
    institutions: dict[int, int] = {}
    previous: dict[int, int | None] = {}
    next_inspector = 100
    next_institution = 1
    for pool in range(pool_count):
        k = draw(st.integers(0, 6))
        pools[pool] = list(range(next_inspector, next_inspector + k))
        next_inspector += k
        n = draw(st.integers(0, 30))
        for _ in range(n):
            institutions[next_institution] = pool
            # Last time: someone of this pool, someone who left (999), or nobody.
            choices = [None, 999, *pools[pool]]
            previous[next_institution] = draw(st.sampled_from(choices))
            next_institution += 1
    order = draw(st.permutations(sorted(institutions)))
    return {i: institutions[i] for i in order}, pools, previous


@settings(max_examples=400, deadline=None)
@given(_rounds())
def test_every_staffed_institution_is_assigned_once_to_an_inspector_of_its_pool(
    data: tuple[dict[int, int], dict[int, list[int]], dict[int, int | None]],
) -> None:
    institutions, pools, previous = data
    result = assign(institutions, pools, previous)
    staffed = {i for i, pool in institutions.items() if pools[pool]}
    assert set(result) == staffed
    for institution, inspector in result.items():
        assert inspector in pools[institutions[institution]]


@settings(max_examples=400, deadline=None)
@given(_rounds())
def test_loads_inside_a_pool_differ_by_at_most_one(
    data: tuple[dict[int, int], dict[int, list[int]], dict[int, int | None]],
) -> None:
    institutions, pools, previous = data
    result = assign(institutions, pools, previous)
    for pool, inspectors in pools.items():
        if not inspectors:
            continue
        loads = Counter(result[i] for i, p in institutions.items() if p == pool)
        counts = [loads.get(inspector, 0) for inspector in inspectors]
        assert max(counts) - min(counts) <= 1


def _improving_change_exists(
    institutions: dict[int, int],
    pools: dict[int, list[int]],
    previous: dict[int, int | None],
    result: dict[int, int],
) -> bool:
    """Brute force: could one swap, or one move that keeps the balance, lower the repeats?"""
    for i, holder in result.items():
        if previous.get(i) != holder:
            continue
        pool = institutions[i]
        loads = Counter(result[j] for j, p in institutions.items() if p == pool)
        for other in pools[pool]:
            if other == holder:
                continue
            moved = dict(loads)
            moved[holder] = moved.get(holder, 0) - 1
            moved[other] = moved.get(other, 0) + 1
            counts = [moved.get(x, 0) for x in pools[pool]]
            if max(counts) - min(counts) <= 1:
                return True
        for j, other_holder in result.items():
            if institutions[j] != pool or other_holder == holder:
                continue
            before = (previous.get(i) == holder) + (previous.get(j) == other_holder)
            after = (previous.get(i) == other_holder) + (previous.get(j) == holder)
            if after < before:
                return True
    return False


@settings(max_examples=400, deadline=None)
@given(_rounds())
def test_no_single_swap_or_balanced_move_would_avoid_a_repeat(
    data: tuple[dict[int, int], dict[int, list[int]], dict[int, int | None]],
) -> None:
    institutions, pools, previous = data
    result = assign(institutions, pools, previous)
    assert not _improving_change_exists(institutions, pools, previous, result)


@settings(max_examples=400, deadline=None)
@given(_rounds())
def test_nobody_repeats_when_the_pool_can_rotate(
    data: tuple[dict[int, int], dict[int, list[int]], dict[int, int | None]],
) -> None:
    institutions, pools, previous = data
    result = assign(institutions, pools, previous)
    for pool, inspectors in pools.items():
        members = [i for i, p in institutions.items() if p == pool]
        if len(inspectors) < 2 or not members:
            continue
        last_time = Counter(previous[i] for i in members if previous[i] is not None)
        if max(last_time.values(), default=0) > len(members) // len(inspectors):
            continue
        assert repeats({i: result[i] for i in members}, previous) == []


@settings(max_examples=200, deadline=None)
@given(_rounds())
def test_the_same_input_gives_the_same_tables(
    data: tuple[dict[int, int], dict[int, list[int]], dict[int, int | None]],
) -> None:
    institutions, pools, previous = data
    reordered_pools = {k: list(reversed(v)) for k, v in pools.items()}
    assert assign(institutions, pools, previous) == assign(institutions, reordered_pools, previous)


def test_one_inspector_keeps_the_institutions_there_is_nobody_else_for() -> None:
    result = assign({1: "a", 2: "a"}, {"a": [7]}, {1: 7, 2: None})
    assert result == {1: 7, 2: 7}


def test_highest_risk_institutions_are_spread_over_the_inspectors() -> None:
    result = assign({1: "a", 2: "a", 3: "a", 4: "a"}, {"a": [7, 8]}, {})
    assert result[1] != result[2]
    assert result[3] != result[4]


def test_institutions_of_an_empty_pool_are_left_unassigned() -> None:
    assert assign({1: "a", 2: "b"}, {"a": [], "b": [5]}, {}) == {2: 5}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0, 0, None, False, False), 13),
        ((0, 0, 10, False, False), 0),
        ((0, 0, 95, False, False), 3),
        ((0, 0, 5000, False, False), 12),
        ((2, 1, 400, True, True), 20 + 5 + 12 + 5 + 3),
        ((1, 0, 60, False, True), 10 + 2 + 3),
    ],
)
def test_risk_score_follows_the_documented_formula(
    args: tuple[int, int, int | None, bool, bool], expected: int
) -> None:
    assert risk_score(*args) == expected


def test_risk_formula_is_documented_in_the_module() -> None:
    doc = generation.__doc__ or ""
    assert "10 × open leads" in doc and "capped at 12 (never inspected: 13)" in doc


# ---------------------------------------------------------------------------- gathering


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with factories.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


def _institution(name: str, region: Region, **extra: Any) -> Institution:
    community = region if region.level == "community" else None
    return Institution.objects.create(
        name=name,
        name_normalized=name,
        region=region,
        community=community,
        source=Source.MANUAL,
        category=extra.pop("category", Category.ARTS),
        **extra,
    )


def _round(region: Region, **extra: Any) -> Round:
    today = timezone.localdate()
    return Round.objects.create(
        name="r",
        region=region,
        checklist=factories.checklist(),
        starts_on=today,
        ends_on=today + datetime.timedelta(days=7),
        **extra,
    )


def _inspector(username: str, region: Region) -> User:
    user = User.objects.create(username=username, display_name=username)
    Assignment.objects.create(user=user, role=Role.INSPECTOR, region=region)
    return user


def test_generation_gives_each_institution_of_the_place_to_a_community_inspector(
    demo_city: dict[str, int],
) -> None:
    wenchang = factories.wenchang()
    made = [_institution(f"机构{i}", wenchang) for i in range(5)]
    closed = _institution("已关闭机构", wenchang, status=Status.CLOSED)
    round_ = _round(wenchang)
    summary = generation.generate(round_)
    items = TaskItem.objects.filter(round=round_)
    assert {i.institution_id for i in items} == {m.pk for m in made}
    assert closed.pk not in {i.institution_id for i in items}
    inspectors = set(
        User.objects.filter(username__in=["yangtiezhu", "inspector2"]).values_list("pk", flat=True)
    )
    loads = Counter(i.task.inspector_id for i in items)
    assert set(loads) == inspectors and sorted(loads.values()) == [2, 3]
    assert summary["unstaffed"] == [] and summary["institutions"] == 5


def test_a_community_without_inspectors_falls_back_to_its_street(
    demo_city: dict[str, int],
) -> None:
    huaiyin = Region.objects.get(code=factories.data.HUAIYIN)
    inst = _institution("槐荫机构", huaiyin)
    assert huaiyin.parent is not None
    round_ = _round(huaiyin.parent)
    summary = generation.generate(round_)
    item = TaskItem.objects.get(round=round_, institution=inst)
    assert item.task.inspector.username in {"yangtiezhu", "inspector2"}
    assert summary["fallback"] >= 1


def test_an_institution_nobody_can_take_is_listed_as_unstaffed(
    demo_city: dict[str, int],
) -> None:
    Assignment.objects.filter(role=Role.INSPECTOR).update(is_active=False)
    wenchang = factories.wenchang()
    inst = _institution("无人机构", wenchang)
    round_ = _round(wenchang)
    summary = generation.generate(round_)
    assert inst.pk in summary["unstaffed"]
    assert not TaskItem.objects.filter(round=round_).exists()


def test_risk_facts_are_counted_from_leads_and_inspections(
    demo_city: dict[str, int], inspector_wenchang: User
) -> None:
    wenchang = factories.wenchang()
    quiet = _institution("安静机构", wenchang, category=Category.ARTS)
    risky = _institution("风险机构", wenchang, category=Category.NONE, status=Status.PENDING)
    lead_tip(institution=risky)
    # An approved visit of the quiet one 40 days ago.
    earlier = factories.issued_round(inspector_wenchang, [quiet])
    inspection = factories.submitted_inspection(earlier.items.get())
    visited = timezone.now() - datetime.timedelta(days=40)
    type(inspection).objects.filter(pk=inspection.pk).update(
        status=InspectionStatus.APPROVED, visited_at=visited, approved_at=visited
    )
    round_ = _round(wenchang)
    generation.generate(round_)
    quiet_item = TaskItem.objects.get(round=round_, institution=quiet)
    risky_item = TaskItem.objects.get(round=round_, institution=risky)
    assert quiet_item.days_since_inspection == 40 and quiet_item.risk == 1
    assert risky_item.open_leads == 1
    assert risky_item.risk == risk_score(1, 0, None, True, True)
    assert quiet_item.previous_inspector_id == inspector_wenchang.pk


def test_last_rounds_inspector_does_not_get_the_same_institution(
    demo_city: dict[str, int], inspector_wenchang: User
) -> None:
    wenchang = factories.wenchang()
    made = [_institution(f"轮换{i}", wenchang) for i in range(2)]
    factories.issued_round(inspector_wenchang, made[:1])
    round_ = _round(wenchang)
    generation.generate(round_)
    item = TaskItem.objects.get(round=round_, institution=made[0])
    assert item.previous_inspector_id == inspector_wenchang.pk
    assert item.task.inspector_id != inspector_wenchang.pk


def test_a_draft_that_was_never_issued_is_not_last_round(
    demo_city: dict[str, int], inspector_wenchang: User
) -> None:
    wenchang = factories.wenchang()
    inst = _institution("草稿机构", wenchang)
    factories.issued_round(inspector_wenchang, [inst], status=RoundStatus.DRAFT)
    round_ = _round(wenchang)
    generation.generate(round_)
    assert TaskItem.objects.get(round=round_, institution=inst).previous_inspector_id is None


def test_items_are_numbered_in_risk_order_on_each_table(demo_city: dict[str, int]) -> None:
    wenchang = factories.wenchang()
    for i in range(6):
        _institution(f"排序{i}", wenchang, category=Category.NONE if i % 2 else Category.ARTS)
    round_ = _round(wenchang)
    generation.generate(round_)
    for task in round_.tasks.all():
        risks = list(task.items.order_by("position").values_list("risk", flat=True))
        assert risks == sorted(risks, reverse=True)
        assert list(task.items.order_by("position").values_list("position", flat=True)) == list(
            range(1, len(risks) + 1)
        )


def test_generation_runs_a_fixed_number_of_queries(
    demo_city: dict[str, int], django_assert_max_num_queries: Any
) -> None:
    wenchang = factories.wenchang()
    for i in range(30):
        _institution(f"批量{i}", wenchang)
    round_ = _round(wenchang)
    with django_assert_max_num_queries(12):
        generation.generate(round_)
