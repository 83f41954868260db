"""The demo registry: the story's three institutions, a few hundred more, duplicates to find."""

from __future__ import annotations

from collections import Counter

import pytest
from stdnum.cn import uscc

from bihuan.audit.models import Event
from bihuan.core.text import to_simplified
from bihuan.demo import data
from bihuan.registry.demo import (
    BLACKLISTED,
    GENERATED,
    NEAR_DUPLICATES,
    WENCHANG_STORY,
    credit_code,
    load_demo_registry,
    plan_registry,
)
from bihuan.registry.merge import registry_dedupe
from bihuan.registry.models import (
    Category,
    CourseOffering,
    Datum,
    Institution,
    MatchCandidate,
    MatchStatus,
    Status,
)
from bihuan.registry.normalize import core_name, normalize_name
from bihuan.territory.models import Region


@pytest.fixture
def registry(demo_city: dict[str, int]) -> dict[str, int]:
    return load_demo_registry()


def test_plan_is_the_same_for_the_same_seed() -> None:
    assert plan_registry.__wrapped__() == plan_registry.__wrapped__()


def test_plan_has_the_story_a_few_hundred_more_and_the_near_duplicates() -> None:
    plan = plan_registry()
    assert len(plan) == len(WENCHANG_STORY) + GENERATED + NEAR_DUPLICATES
    assert sum(bool(s.duplicate_of) for s in plan) == NEAR_DUPLICATES


def test_story_institutions_are_a_subject_centre_an_arts_school_and_a_sports_club() -> None:
    assert [s.category for s in WENCHANG_STORY] == [
        Category.SUBJECT,
        Category.ARTS,
        Category.SPORTS,
    ]
    assert {s.region for s in WENCHANG_STORY} == {data.WENCHANG}


def test_wenchang_holds_only_the_story_institutions() -> None:
    in_wenchang = [s.name for s in plan_registry() if s.region == data.WENCHANG]
    assert in_wenchang == [s.name for s in WENCHANG_STORY]


def test_every_credit_code_carries_a_valid_check_character() -> None:
    codes = [s.credit_code for s in plan_registry() if s.credit_code]
    assert len(codes) > 100
    assert all(uscc.is_valid(c) for c in codes)
    assert len(set(codes)) == len(codes)


def test_credit_code_check_character_is_computed() -> None:
    code = credit_code("52", "420902", 12345678)
    assert uscc.is_valid(code)
    assert code[:8] == "52420902"


def test_near_duplicates_normalise_to_their_original() -> None:
    plan = plan_registry()
    for spec in plan:
        if spec.duplicate_of:
            assert spec.name != spec.duplicate_of
            assert core_name(spec.name).startswith(core_name(spec.duplicate_of)[:4])
    kinds = [s.name for s in plan if s.duplicate_of]
    assert any(normalize_name(n) != n and to_simplified(n) != n for n in kinds)  # Traditional
    assert any(any("Ａ" <= c <= "ｚ" for c in n) for n in kinds)  # full-width letters
    assert any("分校" in n for n in kinds)
    assert any(" " in n for n in kinds)


def test_some_names_exist_only_in_traditional_characters() -> None:
    names = [s.name for s in plan_registry() if s.traditional_only]
    assert len(names) >= 3
    assert all(to_simplified(n) != n for n in names)


def test_positions_come_in_both_datums_around_xiaogan() -> None:
    plan = plan_registry()
    datums = Counter(s.datum for s in plan if s.latitude is not None)
    assert datums[Datum.GCJ02] > 20 and datums[Datum.WGS84] > 20
    for spec in plan:
        if spec.latitude is not None:
            assert 30.5 < spec.latitude < 31.7 and 113.4 < (spec.longitude or 0) < 114.3


def test_load_creates_the_registry_through_the_services(registry: dict[str, int]) -> None:
    plan = plan_registry()
    assert registry["institutions"] == len(plan) == Institution.objects.count()
    assert registry["blacklisted"] == BLACKLISTED
    assert Institution.objects.filter(is_synthetic=False).count() == 0
    created = Event.objects.filter(verb="institution.created").count()
    assert created == len(plan)
    assert CourseOffering.objects.count() == registry["courses"] > 50


def test_story_institutions_are_placed_in_wenchang_and_its_area(registry: dict[str, int]) -> None:
    rows = Institution.objects.filter(community__code=data.WENCHANG)
    assert sorted(rows.values_list("name", flat=True)) == sorted(s.name for s in WENCHANG_STORY)
    assert all(i.area is not None and i.area.name == data.AREA.name for i in rows)


def test_statuses_and_blacklist_are_varied(registry: dict[str, int]) -> None:
    statuses = Counter(Institution.objects.values_list("status", flat=True))
    assert statuses[Status.PENDING] and statuses[Status.SUSPENDED] and statuses[Status.CLOSED]
    assert Institution.objects.filter(is_blacklisted=True).count() == BLACKLISTED


def test_gcj02_positions_were_converted_on_entry(registry: dict[str, int]) -> None:
    spec = WENCHANG_STORY[0]
    institution = Institution.objects.get(name=spec.name)
    assert institution.source_datum == Datum.GCJ02
    # GCJ-02 is shifted several hundred metres from WGS-84 around Xiaogan.
    assert abs(float(institution.longitude or 0) - (spec.longitude or 0)) > 0.003


def test_the_matcher_finds_every_near_duplicate_and_merges_no_other_pair(
    registry: dict[str, int],
) -> None:
    counts = registry_dedupe(actor=None, within=Region.objects.get(code=data.XIAOGAN))
    planned = {(s.name, s.duplicate_of) for s in plan_registry() if s.duplicate_of}
    merged = set(
        Institution.objects.filter(merged_into__isnull=False).values_list(
            "name", "merged_into__name"
        )
    )
    queued = {
        (p.candidate.name, p.institution.name)
        for p in MatchCandidate.objects.filter(status=MatchStatus.PENDING).select_related(
            "institution", "candidate"
        )
    }
    assert merged <= planned
    assert planned <= merged | queued
    assert counts["merged"] == len(merged) and counts["merged"] >= NEAR_DUPLICATES // 2


def test_second_run_creates_nothing(registry: dict[str, int]) -> None:
    events = Event.objects.count()
    again = load_demo_registry()
    assert set(again.values()) == {0}
    assert Event.objects.count() == events
