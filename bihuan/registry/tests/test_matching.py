"""The matcher: scoring pairs of records, narrowing candidates in SQL, queueing undecided pairs."""

from __future__ import annotations

import pytest
from stdnum.cn import uscc

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.registry import services
from bihuan.registry.matching import (
    AUTO_LINK,
    REVIEW,
    MatchInput,
    MatchScore,
    find_matches,
    queue_candidate,
    score_pair,
)
from bihuan.registry.models import Institution, MatchCandidate, MatchStatus, Source
from bihuan.territory.models import Region

WENCHANG, HUAIYIN = 1, 2


def _code(serial: int) -> str:
    body = f"91420902MA4{serial:06d}"
    return body + uscc.calc_check_digit(body)


def _inp(name: str, **fields: object) -> MatchInput:
    return MatchInput.from_fields(name, **fields)  # type: ignore[arg-type]


SAME = [
    ("新東方英語學校", "新东方英语学校", "Traditional and Simplified"),
    ("ＡＢＣ英语培训", "ABC英语培训", "full-width and half-width"),
    ("小 天 才·教育", "小天才教育", "spaces and punctuation"),
    ("小天才教育（孝南分校）", "小天才教育", "a branch note on one side only"),
    ("小天才教育培训学校有限公司", "小天才教育培训学校", "a legal-form suffix"),
    ("阳光美术有限责任公司", "陽光美術", "suffix and Traditional together"),
]


@pytest.mark.parametrize(("a", "b", "why"), SAME, ids=[why for *_, why in SAME])
def test_copies_of_one_name_link_automatically(a: str, b: str, why: str) -> None:
    score = score_pair(_inp(a), _inp(b))
    assert score.score >= AUTO_LINK, (why, score)
    assert score.is_auto_link


DIFFERENT = [
    ("小天才教育", "小天才艺术", "one brand, another kind of school"),
    ("小天才教育培训学校", "小天才艺术培训学校", "long names sharing most characters"),
    ("小天才教育（孝南分校）", "小天才教育（孝昌分校）", "two different branches"),
    ("阳光美术", "阳光舞蹈", "one word differs"),
    ("小天才", "小天才艺术培训", "a short name inside a longer one"),
    ("启航教育", "起航教育", "one character differs"),
]


@pytest.mark.parametrize(("a", "b", "why"), DIFFERENT, ids=[why for *_, why in DIFFERENT])
def test_similar_generic_names_stay_below_auto_link(a: str, b: str, why: str) -> None:
    assert score_pair(_inp(a), _inp(b)).score < AUTO_LINK, why


@pytest.mark.parametrize(("a", "b", "why"), DIFFERENT, ids=[why for *_, why in DIFFERENT])
def test_similar_names_stay_below_auto_link_even_in_one_building_with_one_phone(
    a: str, b: str, why: str
) -> None:
    place = {"community_id": WENCHANG, "phone": "13900001111", "address": "体育路12号"}
    score = score_pair(_inp(a, **place), _inp(b, **place))
    assert score.score < AUTO_LINK, (why, score)


def test_unrelated_names_score_below_review() -> None:
    assert score_pair(_inp("小天才教育"), _inp("博雅书法工作室")).score < REVIEW


@pytest.mark.parametrize(
    ("extra", "reason", "value"),
    [
        ({"phone": "139-0000-1111"}, "phone", 8.0),
        ({"community_id": WENCHANG}, "community", 5.0),
        ({"address": "孝南区体育路12号"}, "address", 5.0),
    ],
    ids=["phone", "community", "address"],
)
def test_shared_phone_community_and_address_raise_the_score(
    extra: dict[str, object], reason: str, value: float
) -> None:
    base = score_pair(_inp("启航教育"), _inp("起航教育"))
    boosted = score_pair(_inp("启航教育", **extra), _inp("起航教育", **extra))
    assert boosted.reasons[reason] == value
    assert boosted.score == pytest.approx(base.score + value)


def test_phone_is_compared_as_digits_without_country_prefix() -> None:
    score = score_pair(
        _inp("晨曦书法", phone="+86 139 0000 1111"), _inp("晨曦书法", phone="13900001111")
    )
    assert score.reasons["phone"] > 0


def test_different_communities_lower_the_score_below_auto_link() -> None:
    score = score_pair(
        _inp("小天才教育", community_id=WENCHANG), _inp("小天才教育", community_id=HUAIYIN)
    )
    assert score.reasons["community"] < 0
    assert REVIEW <= score.score < AUTO_LINK
    assert score.needs_review


def test_two_different_valid_credit_codes_are_never_the_same_institution() -> None:
    place = {"community_id": WENCHANG, "phone": "13900001111", "address": "体育路12号"}
    score = score_pair(
        _inp("小天才教育", credit_code=_code(1), **place),
        _inp("小天才教育", credit_code=_code(2), **place),
    )
    assert score == MatchScore(0.0, {"credit_code": -100.0})


def test_the_same_credit_code_is_the_same_institution_whatever_the_name() -> None:
    score = score_pair(
        _inp("小天才教育", credit_code=_code(1)), _inp("大地艺术", credit_code=_code(1))
    )
    assert score.score == 100.0


def test_an_invalid_credit_code_vetoes_nothing() -> None:
    score = score_pair(
        _inp("小天才教育", credit_code="91420902MA4000001X"),
        _inp("小天才教育", credit_code=_code(2)),
    )
    assert score.is_auto_link


def test_different_licence_numbers_send_an_identical_name_to_review_at_most() -> None:
    score = score_pair(
        _inp("小天才教育", licence_number="教民1"), _inp("小天才教育", licence_number="教民2")
    )
    assert score.score < AUTO_LINK


def test_score_is_symmetric_and_its_reasons_add_up() -> None:
    a = _inp("孝感市小天才教育", phone="13900001111", community_id=WENCHANG)
    b = _inp("小天才教育（孝南分校）", phone="13900001111", community_id=WENCHANG)
    assert score_pair(a, b) == score_pair(b, a)
    score = score_pair(a, b)
    assert score.score == pytest.approx(min(100.0, sum(score.reasons.values())))


# --- against the database -----------------------------------------------------------------------


def _create(actor: User, name: str, region: str = "420902003001", **fields: object) -> Institution:
    return services.institution_create(
        actor=actor,
        name=name,
        region=Region.objects.get(code=region),
        source=Source.IMPORT,
        **fields,
    )


def test_find_matches_ranks_the_copy_first_and_leaves_out_unrelated_records(
    supervisor_city: User,
) -> None:
    target = _create(supervisor_city, "小天才教育培训学校", contact_phone="13900001111")
    _create(supervisor_city, "小天才艺术培训学校")
    _create(supervisor_city, "博雅书法工作室", contact_phone="13900002222")
    wenchang = Region.objects.get(code="420902003001")
    found = find_matches(
        _inp("小天才教育培训学校有限公司", community_id=wenchang.pk, phone="13900001111"),
        Institution.objects.all(),
    )
    assert [i.pk for i, _ in found][:1] == [target.pk]
    assert found[0][1].is_auto_link
    assert "博雅书法工作室" not in [i.name for i, _ in found]
    assert all(score.score >= REVIEW for _, score in found)


def test_find_matches_scores_every_record_of_the_same_community(supervisor_city: User) -> None:
    target = _create(supervisor_city, "晨曦书法", contact_phone="13900003333")
    wenchang = Region.objects.get(code="420902003001")
    found = find_matches(
        _inp("孝感晨曦书法培训中心", community_id=wenchang.pk, phone="13900003333"),
        Institution.objects.all(),
        minimum=0,
    )
    assert [i.pk for i, _ in found] == [target.pk]
    assert found[0][1].reasons["phone"] > 0


def test_outside_a_community_find_matches_looks_for_the_same_name_in_any_script(
    supervisor_city: User,
) -> None:
    same = _create(supervisor_city, "晨曦书法", region="420902")
    _create(supervisor_city, "晨曦书法培训中心", region="420902")
    found = find_matches(_inp("晨曦書法"), Institution.objects.all(), minimum=0)
    assert [i.pk for i, _ in found] == [same.pk]


def test_find_matches_skips_merged_records_and_the_record_itself(supervisor_city: User) -> None:
    target = _create(supervisor_city, "小天才教育")
    merged = _create(supervisor_city, "小天才教育（旧）")
    Institution.objects.filter(pk=merged.pk).update(merged_into=target)
    found = find_matches(MatchInput.from_institution(target), Institution.objects.all())
    assert found == []


def test_find_matches_only_looks_among_the_given_candidates(supervisor_city: User) -> None:
    _create(supervisor_city, "小天才教育", region="420921")
    within = Region.objects.get(code="420902")
    found = find_matches(_inp("小天才教育"), Institution.objects.filter(within.subtree_q("region")))
    assert found == []


def test_find_matches_makes_one_query(
    supervisor_city: User, django_assert_num_queries: object
) -> None:
    for n in range(5):
        _create(supervisor_city, f"小天才教育{n}号")
    with django_assert_num_queries(1):  # type: ignore[operator]
        find_matches(_inp("小天才教育"), Institution.objects.all())


def test_queue_candidate_orders_the_pair_and_is_idempotent(supervisor_city: User) -> None:
    a = _create(supervisor_city, "小天才教育")
    b = _create(supervisor_city, "小天才艺术")
    score = score_pair(MatchInput.from_institution(a), MatchInput.from_institution(b))
    first = queue_candidate(b, a, score, actor=supervisor_city)
    again = queue_candidate(a, b, score, actor=supervisor_city)
    assert first.pk == again.pk
    assert (first.institution_id, first.candidate_id) == (a.pk, b.pk)
    assert first.status == MatchStatus.PENDING
    assert first.reasons == score.reasons
    assert Event.objects.filter(verb="match_candidate.queued").count() == 1


def test_a_rejected_pair_is_not_queued_again(supervisor_city: User) -> None:
    a = _create(supervisor_city, "小天才教育")
    b = _create(supervisor_city, "小天才艺术")
    score = MatchScore(80.0, {"name": 80.0})
    candidate = queue_candidate(a, b, score)
    MatchCandidate.objects.filter(pk=candidate.pk).update(status=MatchStatus.REJECTED)
    assert queue_candidate(a, b, score).status == MatchStatus.REJECTED
    assert MatchCandidate.objects.count() == 1


def test_a_record_is_never_its_own_duplicate(supervisor_city: User) -> None:
    a = _create(supervisor_city, "小天才教育")
    with pytest.raises(ValueError):
        queue_candidate(a, a, MatchScore(100.0))
