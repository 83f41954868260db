"""An institution's history: its own events and those of the records merged into it."""

from __future__ import annotations

from typing import Any

import pytest

from bihuan.accounts.models import User
from bihuan.audit.services import event_record
from bihuan.demo.data import WENCHANG
from bihuan.registry import services
from bihuan.registry.history import (
    history_entries,
    institution_history,
    institution_merged_from,
    merged_ids,
)
from bihuan.registry.merge import institutions_merge
from bihuan.registry.models import Institution, Source, Status
from bihuan.territory.models import Region


def _create(name: str, **fields: Any) -> Institution:
    return services.institution_create(
        actor=None,
        name=name,
        region=Region.objects.get(code=WENCHANG),
        source=Source.MANUAL,
        **fields,
    )


@pytest.fixture
def merged(supervisor_xiaonan: User) -> tuple[Institution, Institution]:
    survivor = _create("孝南区启航教育培训学校")
    duplicate = _create("孝南區啓航教育培訓學校")
    services.institution_set_status(
        actor=supervisor_xiaonan, institution=duplicate, status=Status.SUSPENDED, reason="停业"
    )
    institutions_merge(actor=supervisor_xiaonan, survivor=survivor, duplicate=duplicate)
    return survivor, duplicate


def test_history_is_the_institutions_events_newest_first(supervisor_xiaonan: User) -> None:
    institution = _create("启航教育")
    services.institution_update(actor=supervisor_xiaonan, institution=institution, name="启航学校")
    verbs = [e.verb for e in institution_history(institution)]
    assert verbs == ["institution.updated", "institution.created"]


def test_history_includes_the_events_of_merged_records(
    merged: tuple[Institution, Institution],
) -> None:
    survivor, duplicate = merged
    rows = [(e.verb, e.object_id) for e in institution_history(survivor)]
    assert rows == [
        ("institution.merged_into", str(duplicate.pk)),
        ("institution.merged", str(survivor.pk)),
        ("institution.status_changed", str(duplicate.pk)),
        ("institution.created", str(duplicate.pk)),
        ("institution.created", str(survivor.pk)),
    ]


def test_history_of_the_merged_record_is_its_own(merged: tuple[Institution, Institution]) -> None:
    _, duplicate = merged
    assert {e.object_id for e in institution_history(duplicate)} == {str(duplicate.pk)}


def test_history_ignores_other_kinds_of_records_with_the_same_id(
    merged: tuple[Institution, Institution],
) -> None:
    survivor, _ = merged
    event_record(
        actor=None,
        verb="region.renamed",
        object_type="territory.region",
        object_id=str(survivor.pk),
    )
    assert "region.renamed" not in {e.verb for e in institution_history(survivor)}


def test_merged_from_lists_earlier_merges_at_any_depth(demo_city: dict[str, int]) -> None:
    top, middle, bottom = _create("甲"), _create("乙"), _create("丙")
    # A chain as older data may hold it (merges made now point straight at the survivor).
    Institution.objects.filter(pk=bottom.pk).update(merged_into=middle)
    Institution.objects.filter(pk=middle.pk).update(merged_into=top)
    assert merged_ids(top) == [top.pk, middle.pk, bottom.pk]
    assert list(institution_merged_from(top)) == [middle, bottom]


def test_entries_name_the_change_and_show_before_and_after(supervisor_xiaonan: User) -> None:
    institution = _create("启航教育", capacity=30)
    services.institution_update(actor=supervisor_xiaonan, institution=institution, capacity=60)
    entry = history_entries(institution)[0]
    assert entry.event.verb == "institution.updated"
    assert [(old, new) for _label, old, new in entry.changes] == [(30, 60)]
    assert entry.on_merged_record is False


def test_entries_mark_the_events_of_merged_records(
    merged: tuple[Institution, Institution],
) -> None:
    survivor, _ = merged
    flags = [(e.event.verb, e.on_merged_record) for e in history_entries(survivor)]
    assert ("institution.status_changed", True) in flags
    assert ("institution.merged", False) in flags


def test_history_is_read_in_a_fixed_number_of_queries(
    merged: tuple[Institution, Institution], django_assert_num_queries: Any
) -> None:
    survivor, _ = merged
    # Two to collect the merged ids (the second finds nothing more), one for the events.
    with django_assert_num_queries(3):
        history_entries(survivor)
