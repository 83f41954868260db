"""Search of the registry: Simplified or Traditional names, pinyin, initials, codes, addresses."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django import DjangoAssertNumQueries

from bihuan.accounts.models import User
from bihuan.demo.data import WENCHANG
from bihuan.registry import services
from bihuan.registry.models import Institution, Source
from bihuan.registry.search import search_institutions
from bihuan.registry.selectors import institutions_current
from bihuan.territory.models import Region

CODE = "52420902100000032P"
XIAOCHANG = "420921"


def _create(name: str, region: str = WENCHANG, **fields: Any) -> Institution:
    return services.institution_create(
        actor=None,
        name=name,
        region=Region.objects.get(code=region),
        source=Source.MANUAL,
        **fields,
    )


@pytest.fixture
def found(demo_city: dict[str, int]) -> dict[str, Institution]:
    return {
        "qihang": _create(
            "孝南区启航教育培训学校",
            credit_code=CODE,
            licence_number="教民142090270000009号",
            address="孝南区文昌社区体育路18号",
        ),
        "qihang_arts": _create("启航美术培训中心", address="体育路20号"),
        "traditional": _create("墨韻書畫藝術學校"),
        "latin": _create("ABC英语培训学校"),
        "elsewhere": _create("孝昌县启航教育培训学校", region=XIAOCHANG),
    }


def _names(query: str, qs: Any = None) -> list[str]:
    rows = search_institutions(qs if qs is not None else Institution.objects.all(), query)
    return [i.name for i in rows]


def test_empty_query_leaves_the_queryset_as_it_is(found: dict[str, Institution]) -> None:
    everything = Institution.objects.all()
    assert search_institutions(everything, "  ") is everything


def test_simplified_name_finds_a_name_written_in_traditional(
    found: dict[str, Institution],
) -> None:
    assert _names("墨韵书画") == ["墨韻書畫藝術學校"]


def test_traditional_input_finds_a_simplified_name(found: dict[str, Institution]) -> None:
    assert set(_names("啓航教育培訓")) == {"孝昌县启航教育培训学校", "孝南区启航教育培训学校"}


def test_full_width_input_is_read_as_half_width(found: dict[str, Institution]) -> None:
    assert _names("ＡＢＣ英语") == ["ABC英语培训学校"]


def test_initials_find_the_names_that_start_with_them(found: dict[str, Institution]) -> None:
    assert _names("qhms") == ["启航美术培训中心"]
    assert _names("XNQ") == ["孝南区启航教育培训学校"]


def test_long_initials_also_match_past_the_place_name(found: dict[str, Institution]) -> None:
    assert set(_names("qhjypx")) == {"孝南区启航教育培训学校", "孝昌县启航教育培训学校"}


def test_full_pinyin_matches_anywhere_in_the_name(found: dict[str, Institution]) -> None:
    assert set(_names("qihang")) == {
        "孝南区启航教育培训学校",
        "启航美术培训中心",
        "孝昌县启航教育培训学校",
    }


def test_spaced_pinyin_is_read_as_one_word(found: dict[str, Institution]) -> None:
    assert _names("mei shu") == ["启航美术培训中心"]


def test_credit_code_is_matched_whole_in_any_case(found: dict[str, Institution]) -> None:
    assert _names(CODE.lower()) == ["孝南区启航教育培训学校"]
    assert _names(CODE[:10]) == []


def test_licence_number_is_matched_whole(found: dict[str, Institution]) -> None:
    assert _names("教民142090270000009号") == ["孝南区启航教育培训学校"]


def test_address_matches_a_part(found: dict[str, Institution]) -> None:
    assert set(_names("体育路")) == {"孝南区启航教育培训学校", "启航美术培训中心"}


def test_address_input_in_full_width_digits_is_normalised(found: dict[str, Institution]) -> None:
    assert _names("体育路１８号") == ["孝南区启航教育培训学校"]


def test_exact_and_prefix_matches_come_first(demo_city: dict[str, int]) -> None:
    _create("星辰艺术中心启航")
    _create("启航")
    _create("启航少儿编程")
    assert _names("启航") == ["启航", "启航少儿编程", "星辰艺术中心启航"]


def test_search_stays_within_the_scope_it_is_given(
    found: dict[str, Institution], coordinator_wenchang: User
) -> None:
    scoped = institutions_current(coordinator_wenchang)
    assert _names("启航教育", scoped) == ["孝南区启航教育培训学校"]


def test_merged_records_are_not_found_in_the_current_registry(
    found: dict[str, Institution], supervisor_xiaonan: User
) -> None:
    Institution.objects.filter(pk=found["qihang_arts"].pk).update(merged_into=found["qihang"])
    assert _names("启航", institutions_current(supervisor_xiaonan)) == ["孝南区启航教育培训学校"]


def test_search_is_one_query(
    found: dict[str, Institution],
    coordinator_wenchang: User,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    scoped = institutions_current(coordinator_wenchang)  # the scope is read once, before
    with django_assert_num_queries(1):
        list(search_institutions(scoped, "qihang")[:50])


def test_a_whole_phone_number_finds_its_institution_through_the_hash(
    found: dict[str, Institution],
) -> None:
    _create("晨曦书法工作室", contact_phone="0712-2345678")
    assert _names("07122345678") == ["晨曦书法工作室"]
    assert _names("0712 234 5678") == ["晨曦书法工作室"]


def test_part_of_a_phone_number_finds_nothing(found: dict[str, Institution]) -> None:
    # The phone is encrypted: only the whole number can be compared.
    _create("晨曦书法工作室", contact_phone="0712-2345678")
    assert _names("2345678") == []
    assert _names("0712234") == []
