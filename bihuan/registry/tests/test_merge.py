"""Merging duplicates: references move, the duplicate stays, both histories are kept."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, models

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo.data import HUAIYIN, QIANKUN, WENCHANG, XIAONAN
from bihuan.registry import services
from bihuan.registry.merge import (
    _move_many_to_many,
    _reference_relations,
    institutions_merge,
    registry_dedupe,
    review_decide,
    survivor_of,
)
from bihuan.registry.models import (
    Category,
    CourseOffering,
    ImportRow,
    Institution,
    InstitutionImport,
    MatchCandidate,
    MatchStatus,
    Source,
)
from bihuan.territory.models import Area, Region

CODE = "52420902100000032P"
OTHER_CODE = "52420902100000040J"


def _create(name: str, **fields: Any) -> Institution:
    return services.institution_create(
        actor=None,
        name=name,
        region=Region.objects.get(code=WENCHANG),
        source=Source.MANUAL,
        **fields,
    )


def _pair(a: Institution, b: Institution, score: float = 0.8) -> MatchCandidate:
    low, high = sorted((a, b), key=lambda i: i.pk)
    return MatchCandidate.objects.create(institution=low, candidate=high, score=score)


def _events(institution: Institution) -> list[Event]:
    return list(
        Event.objects.filter(
            object_type="registry.institution", object_id=str(institution.pk)
        ).order_by("id")
    )


def _state() -> tuple[Any, ...]:
    return (
        list(Institution.objects.order_by("pk").values()),
        list(CourseOffering.objects.order_by("pk").values()),
        list(MatchCandidate.objects.order_by("pk").values()),
        Event.objects.count(),
    )


@pytest.fixture
def twins(demo_city: dict[str, int]) -> tuple[Institution, Institution]:
    survivor = _create("孝南区启航教育培训学校", credit_code=CODE, category=Category.SUBJECT)
    duplicate = _create(
        "孝南區啓航教育培訓學校（文昌分校）",
        contact_phone="10012345678",
        address="文昌社区体育路18号",
        licence_number="教民142090270000009号",
        latitude="30.9268",
        longitude="113.9203",
        datum="wgs84",
        capacity=80,
    )
    return survivor, duplicate


def test_merge_marks_the_duplicate_and_keeps_it(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    count = Institution.objects.count()
    result = institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    duplicate.refresh_from_db()
    assert result.pk == survivor.pk
    assert duplicate.merged_into_id == survivor.pk
    assert duplicate.name == "孝南區啓航教育培訓學校（文昌分校）"
    assert Institution.objects.count() == count


def test_merge_moves_the_courses_to_the_survivor(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    services.course_add(actor=None, institution=duplicate, name="初中数学", is_subject=True)
    services.course_add(actor=None, institution=survivor, name="小学语文", is_subject=True)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    assert sorted(survivor.courses.values_list("name", flat=True)) == ["初中数学", "小学语文"]
    assert not duplicate.courses.exists()


def test_merge_moves_references_that_hide_their_reverse_name(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    # ImportRow.institution has related_name="+": only a search including hidden relations sees it.
    survivor, duplicate = twins
    batch = InstitutionImport.objects.create(
        uploaded_by=supervisor_xiaonan,
        region=Region.objects.get(code=WENCHANG),
        file="imports/institutions/x.csv",
        original_name="x.csv",
    )
    row = ImportRow.objects.create(batch=batch, line=2, action="create", institution=duplicate)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    row.refresh_from_db()
    assert row.institution_id == survivor.pk


def test_merge_fills_what_the_survivor_lacks_and_keeps_what_it_has(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    survivor.refresh_from_db()
    assert survivor.name == "孝南区启航教育培训学校"
    assert survivor.credit_code == CODE
    assert survivor.category == Category.SUBJECT
    assert survivor.contact_phone == "10012345678"
    assert survivor.licence_number == "教民142090270000009号"
    assert survivor.address == "文昌社区体育路18号"
    assert str(survivor.latitude) == "30.926800"
    assert survivor.capacity == 80


def test_survivor_may_take_the_duplicates_unique_credit_code(
    supervisor_xiaonan: User, demo_city: dict[str, int]
) -> None:
    survivor = _create("启航教育")
    duplicate = _create("啓航教育", credit_code=CODE)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    survivor.refresh_from_db()
    assert survivor.credit_code == CODE


def test_blacklist_follows_the_duplicate_into_the_survivor(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    services.institution_set_blacklist(
        actor=None, institution=duplicate, blacklisted=True, reason="无证办学"
    )
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    survivor.refresh_from_db()
    assert (survivor.is_blacklisted, survivor.blacklist_reason) == (True, "无证办学")


def test_merge_writes_an_event_on_each_record(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    services.course_add(actor=None, institution=duplicate, name="初中数学", is_subject=True)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    merged, merged_into = _events(survivor)[-1], _events(duplicate)[-1]
    assert (merged.verb, merged_into.verb) == ("institution.merged", "institution.merged_into")
    assert merged.actor == merged_into.actor == supervisor_xiaonan
    assert merged.before is not None and merged.after is not None
    # The phone is encrypted in its table: the trail keeps it masked.
    assert merged.before["contact_phone"] == "" and merged.after["contact_phone"] == "100****5678"
    assert merged.after["duplicate"] == duplicate.pk
    assert merged.after["moved"] == {"registry.courseoffering.institution": 1}
    assert "contact_phone" in merged.after["filled"]
    assert merged_into.before is not None and merged_into.after is not None
    assert merged_into.before["merged_into"] is None
    assert merged_into.after["merged_into"] == survivor.pk
    assert merged_into.after["moved"] == {"registry.courseoffering.institution": 1}


def test_records_merged_into_the_duplicate_follow_it(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    earlier = _create("启航教育旧名")
    institutions_merge(actor=supervisor_xiaonan, survivor=duplicate, duplicate=earlier)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    earlier.refresh_from_db()
    assert earlier.merged_into_id == survivor.pk


def test_pending_pair_of_the_two_is_confirmed(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    pair = _pair(survivor, duplicate)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    pair.refresh_from_db()
    assert pair.status == MatchStatus.CONFIRMED
    assert pair.decided_by == supervisor_xiaonan
    assert pair.decided_at is not None


def test_pending_pair_with_a_third_record_moves_to_the_survivor(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    third = _create("启航教育培训")
    pair = _pair(duplicate, third, score=0.7)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    pair.refresh_from_db()
    assert pair.status == MatchStatus.PENDING
    assert {pair.institution_id, pair.candidate_id} == {survivor.pk, third.pk}
    assert pair.institution_id < pair.candidate_id


def test_pending_pair_repeating_one_of_the_survivor_is_closed(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    third = _create("启航教育培训")
    kept = _pair(survivor, third)
    repeated = _pair(duplicate, third)
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    kept.refresh_from_db()
    repeated.refresh_from_db()
    assert kept.status == MatchStatus.PENDING
    assert repeated.status != MatchStatus.PENDING
    assert repeated.reasons["superseded_by"] == kept.pk


def test_merging_into_itself_is_refused(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, _ = twins
    before = _state()
    with pytest.raises(ServiceError):
        institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=survivor)
    assert _state() == before


def test_merging_into_a_merged_record_is_refused(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    third = _create("启航教育培训")
    before = _state()
    with pytest.raises(ServiceError):
        institutions_merge(actor=supervisor_xiaonan, survivor=duplicate, duplicate=third)
    with pytest.raises(ServiceError):
        institutions_merge(actor=supervisor_xiaonan, survivor=third, duplicate=duplicate)
    assert _state() == before


def test_records_with_two_different_credit_codes_are_not_merged(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, _ = twins
    other = _create("启航教育", credit_code=OTHER_CODE)
    before = _state()
    with pytest.raises(ServiceError):
        institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=other)
    assert _state() == before


def test_merge_by_a_coordinator_is_refused(
    coordinator_wenchang: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    before = _state()
    with pytest.raises(NotAllowed):
        institutions_merge(actor=coordinator_wenchang, survivor=survivor, duplicate=duplicate)
    assert _state() == before


def test_survivor_is_the_record_with_a_credit_code(demo_city: dict[str, int]) -> None:
    older = _create("启航教育")
    coded = _create("啓航教育", credit_code=CODE)
    assert survivor_of(older, coded) == (coded, older)
    assert survivor_of(coded, older) == (coded, older)


def test_without_credit_codes_the_older_record_survives(demo_city: dict[str, int]) -> None:
    older, newer = _create("启航教育"), _create("啓航教育")
    assert survivor_of(newer, older) == (older, newer)


def test_review_confirming_a_pair_merges_it(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    survivor, duplicate = twins
    pair = _pair(survivor, duplicate)
    decided = review_decide(actor=supervisor_xiaonan, candidate=pair, same=True)
    assert decided.status == MatchStatus.CONFIRMED
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == survivor.pk
    assert _events(survivor)[-1].after["candidate"] == pair.pk  # type: ignore[index]


def test_review_keeps_the_coded_record_even_when_it_is_newer(
    supervisor_xiaonan: User, demo_city: dict[str, int]
) -> None:
    older = _create("启航教育")
    coded = _create("啓航教育", credit_code=CODE)
    review_decide(actor=supervisor_xiaonan, candidate=_pair(older, coded), same=True)
    older.refresh_from_db()
    assert older.merged_into_id == coded.pk


def test_review_rejecting_a_pair_merges_nothing_and_records_it_on_both(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    first, second = twins
    pair = _pair(first, second)
    decided = review_decide(actor=supervisor_xiaonan, candidate=pair, same=False)
    assert decided.status == MatchStatus.REJECTED
    assert decided.decided_by == supervisor_xiaonan
    assert not Institution.objects.filter(merged_into__isnull=False).exists()
    for institution, other in ((first, second), (second, first)):
        event = _events(institution)[-1]
        assert event.verb == "institution.match_rejected"
        assert event.after is not None and event.after["other"] == other.pk


def test_a_decided_pair_cannot_be_decided_again(
    supervisor_xiaonan: User, twins: tuple[Institution, Institution]
) -> None:
    pair = _pair(*twins)
    review_decide(actor=supervisor_xiaonan, candidate=pair, same=False)
    before = _state()
    with pytest.raises(ServiceError):
        review_decide(actor=supervisor_xiaonan, candidate=pair, same=True)
    assert _state() == before


def test_review_by_a_coordinator_is_refused(
    coordinator_wenchang: User, twins: tuple[Institution, Institution]
) -> None:
    pair = _pair(*twins)
    before = _state()
    with pytest.raises(NotAllowed):
        review_decide(actor=coordinator_wenchang, candidate=pair, same=False)
    assert _state() == before


def test_every_relation_to_an_institution_is_moved_or_resolved() -> None:
    # Later apps' foreign keys to Institution join the merge without any change here.
    pointing = {
        (model._meta.label_lower, field.name)
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.get_fields()
        if field.is_relation and field.concrete and field.related_model is Institution
    }
    moved = {(model._meta.label_lower, rel.field.name) for model, rel in _reference_relations()}
    special = {
        ("registry.institution", "merged_into"),
        ("registry.matchcandidate", "institution"),
        ("registry.matchcandidate", "candidate"),
    }
    assert moved | special == pointing
    assert ("registry.importrow", "institution") in moved


def test_many_to_many_links_move_without_doubling(demo_city: dict[str, int]) -> None:
    # No many-to-many relation points at Institution yet: the same code moves area memberships.
    huaiyin, qiankun = Region.objects.get(code=HUAIYIN), Region.objects.get(code=QIANKUN)
    relation = Region._meta.get_field("community_areas")
    assert isinstance(relation, models.ManyToManyRel)
    spare = Area.objects.create(name="备用片区", region=huaiyin.parent)
    spare.communities.add(qiankun)
    shared = set(huaiyin.community_areas.values_list("pk", flat=True))
    assert shared and not shared & {spare.pk}
    moved = _move_many_to_many(relation, qiankun, huaiyin)  # type: ignore[arg-type]
    assert moved == 1
    assert set(huaiyin.community_areas.values_list("pk", flat=True)) == shared | {spare.pk}
    assert set(qiankun.community_areas.values_list("pk", flat=True)) == shared


def test_dedupe_merges_sure_pairs_and_queues_doubtful_ones(supervisor_xiaonan: User) -> None:
    sure = _create("孝南区启航教育培训学校", contact_phone="10012345678")
    _create("孝南區啓航教育培訓學校", contact_phone="+86 100-1234-5678")
    doubtful = _create("墨韵书画艺术学校")
    _create("墨韵书画艺术中心")
    _create("飞扬体育俱乐部")
    counts = registry_dedupe(actor=supervisor_xiaonan, within=Region.objects.get(code=XIAONAN))
    # Five records; the one merged away while the run went on is not looked at itself.
    assert counts == {"scanned": 4, "merged": 1, "queued": 1, "refused": 0}
    assert Institution.objects.get(name="孝南區啓航教育培訓學校").merged_into_id == sure.pk
    [pair] = MatchCandidate.objects.all()
    assert pair.institution_id == doubtful.pk and pair.status == MatchStatus.PENDING
    event = Event.objects.filter(verb="registry.deduplicated").get()
    assert event.after == counts and event.actor == supervisor_xiaonan


def test_dedupe_run_twice_finds_nothing_new(supervisor_xiaonan: User) -> None:
    _create("孝南区启航教育培训学校")
    _create("孝南區啓航教育培訓學校")
    _create("墨韵书画艺术学校")
    _create("墨韵书画艺术中心")
    xiaonan = Region.objects.get(code=XIAONAN)
    registry_dedupe(actor=supervisor_xiaonan, within=xiaonan)
    again = registry_dedupe(actor=supervisor_xiaonan, within=xiaonan)
    assert (again["merged"], again["queued"]) == (0, 0)


def test_dedupe_stays_inside_its_region(supervisor_city: User) -> None:
    _create("孝南区启航教育培训学校")
    services.institution_create(
        actor=None,
        name="孝南區啓航教育培訓學校",
        region=Region.objects.get(code="420921"),
        source=Source.MANUAL,
    )
    counts = registry_dedupe(actor=supervisor_city, within=Region.objects.get(code=WENCHANG))
    assert counts["merged"] == 0


def test_dedupe_by_a_coordinator_is_refused(coordinator_wenchang: User) -> None:
    with pytest.raises(NotAllowed):
        registry_dedupe(actor=coordinator_wenchang, within=Region.objects.get(code=WENCHANG))


def test_dedupe_command_reports_its_counts(demo_city: dict[str, int]) -> None:
    _create("孝南区启航教育培训学校")
    _create("孝南區啓航教育培訓學校")
    out = io.StringIO()
    call_command("dedupe_registry", "--region", XIAONAN, stdout=out)
    assert "scanned 1, merged 1, pairs sent to review 0, refused 0" in out.getvalue()


def test_dedupe_command_refuses_an_unknown_region(demo_city: dict[str, int]) -> None:
    with pytest.raises(CommandError):
        call_command("dedupe_registry", "--region", "999999")


def _race(*merges: tuple[Institution, Institution]) -> list[str]:
    """Run the merges at the same moment, each in its own thread; the outcome of each."""
    start = threading.Barrier(len(merges))
    outcomes: list[str] = [""] * len(merges)

    def run(index: int, survivor: Institution, duplicate: Institution) -> None:
        try:
            start.wait(timeout=30)
            institutions_merge(actor=None, survivor=survivor, duplicate=duplicate)
            outcomes[index] = "merged"
        except ServiceError:
            outcomes[index] = "refused"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, survivor, duplicate))
        for i, (survivor, duplicate) in enumerate(merges)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_one_duplicate_merged_into_two_records_at_once_goes_to_one(
    live_db: None, demo_city: dict[str, int]
) -> None:
    first, second, duplicate = _create("启航教育"), _create("啓航教育"), _create("启航教育培训")
    assert _race((first, duplicate), (second, duplicate)) == ["merged", "refused"]
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id in (first.pk, second.pk)
    assert Event.objects.filter(verb="institution.merged_into").count() == 1


def test_two_records_merged_into_each_other_at_once_end_as_one(
    live_db: None, demo_city: dict[str, int]
) -> None:
    first, second = _create("启航教育"), _create("啓航教育")
    assert _race((first, second), (second, first)) == ["merged", "refused"]
    assert (
        Institution.objects.filter(merged_into__isnull=True, name__contains="航教育").count() == 1
    )
