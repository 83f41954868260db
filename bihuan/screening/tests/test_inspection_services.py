"""The inspector's services: start, draft, photos, co-inspectors, submit (and replay), field finds.

The demo city is loaded once for the module; each test issues a round in 文昌社区 to 杨铁柱
(inspector_wenchang) holding two registered institutions, one with a position on record.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo.data import HUAIYIN
from bihuan.notifications.models import Notification
from bihuan.registry import services as registry_services
from bihuan.registry.models import Institution, Source
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.screening import inspection_services as services
from bihuan.screening.models import (
    Inspection,
    InspectionParticipant,
    InspectionPhoto,
    InspectionVersion,
    Round,
    Task,
    TaskItem,
)
from bihuan.screening.tests import factories as f
from bihuan.screening.workflow import InspectionStatus, RoundStatus, TaskKind, VisitOutcome
from bihuan.territory.models import Region

# 孝南区 near 文昌社区 (WGS-84); 0.001° of latitude is about 111 m.
HOME = (Decimal("30.918000"), Decimal("113.913000"))
CLEAN = {"licence_displayed": "yes", "provides_meals": "no", "students_present": "12"}


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"


def make_institution(name: str, position: tuple[Decimal, Decimal] | None = None) -> Institution:
    lat, lng = position or (None, None)
    return registry_services.institution_create(
        actor=None,
        name=name,
        region=f.wenchang(),
        source=Source.IMPORT,
        latitude=lat,
        longitude=lng,
    )


@pytest.fixture
def round_(inspector_wenchang: User) -> Round:
    places = [make_institution("文昌启明学科辅导中心", HOME), make_institution("文昌小画家美术")]
    return f.issued_round(inspector_wenchang, places)


@pytest.fixture
def item(round_: Round) -> TaskItem:
    return round_.items.order_by("position").first()  # type: ignore[return-value]


def jpeg(size: tuple[int, int] = (64, 48)) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, format="JPEG")
    return SimpleUploadedFile("p.jpg", out.getvalue(), content_type="image/jpeg")


def submit(actor: User, inspection: Inspection, **overrides: Any) -> InspectionVersion:
    fields: dict[str, Any] = {
        "actor": actor,
        "client_id": inspection.client_id,
        "submission_id": uuid.uuid4(),
        "values": dict(CLEAN),
        "notes": {},
    }
    fields.update(overrides)
    return services.inspection_submit(**fields)


def state() -> tuple[Any, ...]:
    return (
        list(Inspection.objects.order_by("pk").values_list("pk", "status", "version", "draft")),
        InspectionVersion.objects.count(),
        list(InspectionParticipant.objects.order_by("pk").values_list("pk", "is_active")),
        list(InspectionPhoto.objects.order_by("pk").values_list("pk", "removed_at")),
        Institution.objects.count(),
        Event.objects.count(),
    )


# ---------------------------------------------------------------------------- starting


def test_starting_twice_with_one_client_id_makes_one_inspection(
    inspector_wenchang: User, item: TaskItem
) -> None:
    client_id = uuid.uuid4()
    first = services.inspection_start(actor=inspector_wenchang, client_id=client_id, item=item)
    again = services.inspection_start(actor=inspector_wenchang, client_id=client_id, item=item)
    assert first.pk == again.pk
    assert first.status == InspectionStatus.DRAFT
    assert first.region_id == item.institution.region_id
    assert first.checklist_id == item.round.checklist_id
    assert list(first.participants.values_list("user_id", flat=True)) == [inspector_wenchang.pk]
    assert Event.objects.filter(verb="inspection.started", object_id=str(first.pk)).count() == 1


def test_an_item_already_started_returns_its_inspection_for_a_new_client_id(
    inspector_wenchang: User, item: TaskItem
) -> None:
    first = services.inspection_start(actor=inspector_wenchang, client_id=uuid.uuid4(), item=item)
    other_phone = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    assert other_phone.pk == first.pk
    assert Inspection.objects.count() == 1


def test_nobody_starts_an_item_of_another_inspectors_task(
    item: TaskItem, coordinator_wenchang: User
) -> None:
    before = state()
    other = User.objects.get(username="inspector2")
    for actor in (other, coordinator_wenchang):
        with pytest.raises(NotAllowed):
            services.inspection_start(actor=actor, client_id=uuid.uuid4(), item=item)
    assert state() == before


def test_a_round_that_is_not_issued_takes_no_inspection(
    inspector_wenchang: User, item: TaskItem
) -> None:
    Round.objects.filter(pk=item.round_id).update(status=RoundStatus.CLOSED)
    before = state()
    with pytest.raises(ServiceError):
        services.inspection_start(actor=inspector_wenchang, client_id=uuid.uuid4(), item=item)
    assert state() == before


# ---------------------------------------------------------------------------- draft


def test_draft_is_kept_on_the_server_and_saved_once_per_change(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    fields = {
        "actor": inspector_wenchang,
        "client_id": inspection.client_id,
        "values": {"licence_displayed": "no"},
        "notes": {"licence_displayed": "门口无公示"},
        "note": "",
        "outcome": VisitOutcome.VISITED,
        "latitude": "30.9181",
        "longitude": "113.9131",
        "accuracy": "12.4",
    }
    saved_at = services.inspection_save_draft(**fields)
    services.inspection_save_draft(**fields)
    inspection.refresh_from_db()
    assert inspection.draft["values"] == {"licence_displayed": "no"}
    assert inspection.draft["notes"] == {"licence_displayed": "门口无公示"}
    assert inspection.draft["accuracy"] == 12
    assert inspection.draft_saved_at == saved_at
    assert Event.objects.filter(verb="inspection.draft_saved").count() == 1


def test_a_submitted_inspection_keeps_no_new_draft(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    submit(inspector_wenchang, inspection)
    before = state()
    with pytest.raises(ServiceError):
        services.inspection_save_draft(
            actor=inspector_wenchang, client_id=inspection.client_id, values={}, notes={}
        )
    assert state() == before


# ---------------------------------------------------------------------------- submitting


def test_submission_makes_version_one_and_moves_the_inspection(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    version = submit(inspector_wenchang, inspection, latitude="30.9181", longitude="113.9131")
    inspection.refresh_from_db()
    assert (version.number, inspection.version, inspection.status) == (
        1,
        1,
        InspectionStatus.SUBMITTED,
    )
    assert version.answers == {
        "values": {"licence_displayed": "yes", "provides_meals": "no", "students_present": 12},
        "notes": {},
    }
    assert version.flags == []
    assert version.participant_ids == [inspector_wenchang.pk]
    assert inspection.submitted_at is not None and inspection.visited_at is not None
    assert inspection.distance_m is not None and inspection.distance_m < 50
    assert inspection.is_far is False
    assert Event.objects.filter(verb="inspection.submitted", object_id=str(inspection.pk)).exists()


def test_replayed_submission_returns_the_same_version_and_logs_nothing(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    submission_id = uuid.uuid4()
    first = submit(inspector_wenchang, inspection, submission_id=submission_id)
    before = state()
    different = dict(CLEAN, students_present="99")
    again = submit(inspector_wenchang, inspection, submission_id=submission_id, values=different)
    assert again.pk == first.pk
    assert again.answers["values"]["students_present"] == 12
    assert state() == before


def test_reviewers_are_told_once_per_version_after_commit(
    inspector_wenchang: User,
    item: TaskItem,
    coordinator_wenchang: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    submission_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        submit(inspector_wenchang, inspection, submission_id=submission_id)
    with django_capture_on_commit_callbacks(execute=True) as replayed:
        submit(inspector_wenchang, inspection, submission_id=submission_id)
    assert replayed == []
    told = Notification.objects.filter(kind="inspection.submitted")
    assert coordinator_wenchang.pk in set(told.values_list("user_id", flat=True))
    assert not told.filter(user=inspector_wenchang).exists()
    assert told.filter(user=coordinator_wenchang).count() == 1


def test_a_flagged_answer_without_evidence_is_refused_by_question(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    before = state()
    with pytest.raises(services.ChecklistErrors) as refused:
        submit(inspector_wenchang, inspection, values=dict(CLEAN, licence_displayed="no"))
    assert set(refused.value.errors) == {"licence_displayed"}
    assert state() == before


def test_a_flagged_answer_with_a_photo_is_recorded_with_its_violation_type(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    photo = services.photo_add(
        actor=inspector_wenchang,
        inspection=inspection,
        client_id=uuid.uuid4(),
        question="licence_displayed",
        upload=jpeg(),
    )
    version = submit(inspector_wenchang, inspection, values=dict(CLEAN, licence_displayed="no"))
    (flag,) = version.flags
    assert flag["question"] == "licence_displayed"
    assert flag["violation_types"] == ["A2"]
    assert flag["photos"] == [photo.pk]
    assert version.photo_ids == [photo.pk]
    inspection.refresh_from_db()
    assert inspection.flag_count == 1


def test_missing_and_out_of_range_answers_are_refused(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    with pytest.raises(services.ChecklistErrors) as refused:
        submit(
            inspector_wenchang,
            inspection,
            values={"provides_meals": "yes", "students_present": "900"},
        )
    assert set(refused.value.errors) == {"licence_displayed", "food_licence", "students_present"}


def test_closed_institution_needs_a_note_and_no_checklist(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    with pytest.raises(ServiceError) as refused:
        submit(inspector_wenchang, inspection, values={}, outcome=VisitOutcome.CLOSED)
    assert refused.value.field == "note"
    version = submit(
        inspector_wenchang,
        inspection,
        values={},
        outcome=VisitOutcome.CLOSED,
        note="门面已转租，机构已搬离。",
    )
    assert version.outcome == VisitOutcome.CLOSED
    assert version.answers == {"values": {}, "notes": {}}


def test_position_far_from_the_address_is_flagged(inspector_wenchang: User, item: TaskItem) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    submit(inspector_wenchang, inspection, latitude="30.9280", longitude="113.9130", accuracy=15)
    inspection.refresh_from_db()
    assert inspection.distance_m is not None and 1000 < inspection.distance_m < 1200
    assert inspection.is_far is True


def test_a_poor_accuracy_is_flagged_even_near_the_address(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    submit(inspector_wenchang, inspection, latitude="30.9180", longitude="113.9130", accuracy=900)
    inspection.refresh_from_db()
    assert (inspection.distance_m, inspection.is_far, inspection.accuracy_m) == (0, True, 900)


def test_a_returned_inspection_is_submitted_again_as_version_two(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    submit(inspector_wenchang, inspection)
    # The review is another helper's service; the row's state is what this one starts from.
    Inspection.objects.filter(pk=inspection.pk).update(status=InspectionStatus.RETURNED)
    version = submit(inspector_wenchang, inspection)
    assert version.number == 2
    inspection.refresh_from_db()
    assert (inspection.status, inspection.version) == (InspectionStatus.SUBMITTED, 2)


def test_a_submitted_inspection_cannot_be_submitted_with_a_new_id(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    submit(inspector_wenchang, inspection)
    before = state()
    with pytest.raises(ServiceError):
        submit(inspector_wenchang, inspection)
    assert state() == before


@pytest.mark.parametrize("persona", ["coordinator_wenchang", "supervisor_city", "officer_market"])
def test_only_the_inspector_submits(
    persona: str, request: pytest.FixtureRequest, inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    actor = request.getfixturevalue(persona)
    before = state()
    with pytest.raises(NotAllowed):
        submit(actor, inspection)
    assert state() == before


def test_plain_form_submission_starts_adds_photos_and_people_in_one_go(
    inspector_wenchang: User, item: TaskItem
) -> None:
    colleague = User.objects.get(username="inspector2")
    client_id = uuid.uuid4()
    version = services.inspection_submit(
        actor=inspector_wenchang,
        client_id=client_id,
        submission_id=uuid.uuid4(),
        values=dict(CLEAN, licence_displayed="no"),
        notes={},
        item=item,
        photos=[services.PhotoUpload(uuid.uuid4(), "licence_displayed", jpeg())],
        participants=[colleague],
    )
    inspection = Inspection.objects.get(client_id=client_id)
    assert version.inspection_id == inspection.pk
    assert sorted(version.participant_ids) == sorted([inspector_wenchang.pk, colleague.pk])
    assert len(version.photo_ids) == 1
    assert version.flags[0]["photos"] == version.photo_ids


def test_plain_form_refused_writes_nothing_not_even_the_start(
    inspector_wenchang: User, item: TaskItem
) -> None:
    before = state()
    with pytest.raises(services.ChecklistErrors):
        services.inspection_submit(
            actor=inspector_wenchang,
            client_id=uuid.uuid4(),
            submission_id=uuid.uuid4(),
            values={"licence_displayed": "no"},
            notes={},
            item=item,
            photos=[services.PhotoUpload(uuid.uuid4(), "", jpeg())],
        )
    assert state() == before


# ---------------------------------------------------------------------------- photos


def test_one_photo_client_id_stores_one_photo(inspector_wenchang: User, item: TaskItem) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    photo_id = uuid.uuid4()
    first = services.photo_add(
        actor=inspector_wenchang,
        inspection=inspection,
        client_id=photo_id,
        question="",
        upload=jpeg(),
    )
    again = services.photo_add(
        actor=inspector_wenchang,
        inspection=inspection,
        client_id=photo_id,
        question="",
        upload=jpeg(),
    )
    assert first.pk == again.pk
    assert InspectionPhoto.objects.count() == 1
    assert first.content_type == "image/jpeg" and first.file.name.endswith(f"{first.sha256}.jpg")


def test_photo_for_an_unknown_question_is_refused(inspector_wenchang: User, item: TaskItem) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    before = state()
    with pytest.raises(ServiceError):
        services.photo_add(
            actor=inspector_wenchang,
            inspection=inspection,
            client_id=uuid.uuid4(),
            question="no_such_question",
            upload=jpeg(),
        )
    assert state() == before


def test_removed_photo_is_kept_but_no_longer_counts(
    inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    photo = services.photo_add(
        actor=inspector_wenchang,
        inspection=inspection,
        client_id=uuid.uuid4(),
        question="licence_displayed",
        upload=jpeg(),
    )
    services.photo_remove(actor=inspector_wenchang, photo=photo)
    photo.refresh_from_db()
    assert photo.removed_at is not None
    with pytest.raises(services.ChecklistErrors):
        submit(inspector_wenchang, inspection, values=dict(CLEAN, licence_displayed="no"))


# ---------------------------------------------------------------------------- co-inspectors


def test_co_inspectors_count_as_people_and_the_inspector_stays(
    inspector_wenchang: User, item: TaskItem, coordinator_wenchang: User
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    colleague = User.objects.get(username="inspector2")
    services.participant_add(actor=inspector_wenchang, inspection=inspection, user=colleague)
    services.participant_add(actor=inspector_wenchang, inspection=inspection, user=colleague)
    services.participant_add(
        actor=inspector_wenchang, inspection=inspection, user=coordinator_wenchang
    )
    services.participant_remove(
        actor=inspector_wenchang, inspection=inspection, user=coordinator_wenchang
    )
    with pytest.raises(ServiceError):
        services.participant_remove(
            actor=inspector_wenchang, inspection=inspection, user=inspector_wenchang
        )
    version = submit(inspector_wenchang, inspection)
    assert sorted(version.participant_ids) == sorted([inspector_wenchang.pk, colleague.pk])


def test_someone_outside_the_street_cannot_be_added(
    inspector_wenchang: User, item: TaskItem, officer_market: User
) -> None:
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    before = state()
    with pytest.raises(ServiceError):
        services.participant_add(
            actor=inspector_wenchang, inspection=inspection, user=officer_market
        )
    assert state() == before


# ---------------------------------------------------------------------------- field finds


def test_field_find_creates_a_pending_institution_and_a_draft_once(
    inspector_wenchang: User, round_: Round
) -> None:
    task = round_.tasks.get()
    client_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "actor": inspector_wenchang,
        "task": task,
        "client_id": client_id,
        "name": "文昌某托管辅导班",
        "address": "体育路18号2楼",
        "latitude": "30.9190",
        "longitude": "113.9140",
        "accuracy": 20,
        "note": "门口张贴招生广告",
    }
    first = services.field_find_report(**fields)
    again = services.field_find_report(**fields)
    assert first.pk == again.pk
    assert first.is_field_find and first.item_id is None and first.status == InspectionStatus.DRAFT
    institution = first.institution
    assert (institution.source, institution.status) == (Source.FIELD, InstitutionStatus.PENDING)
    assert Institution.objects.filter(name="文昌某托管辅导班").count() == 1
    assert first.draft["note"] == "门口张贴招生广告"
    version = submit(inspector_wenchang, first)
    assert version.number == 1


def test_field_find_needs_ones_own_open_task(inspector_wenchang: User, round_: Round) -> None:
    task = round_.tasks.get()
    other = User.objects.get(username="inspector2")
    before = state()
    with pytest.raises(NotAllowed):
        services.field_find_report(actor=other, task=task, client_id=uuid.uuid4(), name="某机构")
    with pytest.raises(ServiceError):
        services.field_find_report(
            actor=inspector_wenchang, task=task, client_id=uuid.uuid4(), name=""
        )
    assert state() == before


def test_refused_plain_form_leaves_no_photo_file_behind(
    inspector_wenchang: User, item: TaskItem, tmp_path: Path
) -> None:
    with pytest.raises(services.ChecklistErrors):
        services.inspection_submit(
            actor=inspector_wenchang,
            client_id=uuid.uuid4(),
            submission_id=uuid.uuid4(),
            values={"licence_displayed": "no"},
            notes={},
            item=item,
            photos=[services.PhotoUpload(uuid.uuid4(), "", jpeg())],
        )
    media = tmp_path / "media"
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


def test_plain_form_from_a_second_phone_completes_the_started_visit(
    inspector_wenchang: User, item: TaskItem
) -> None:
    started = services.inspection_start(actor=inspector_wenchang, client_id=uuid.uuid4(), item=item)
    version = services.inspection_submit(
        actor=inspector_wenchang,
        client_id=uuid.uuid4(),  # the other phone's page made its own id
        submission_id=uuid.uuid4(),
        values=dict(CLEAN),
        notes={},
        item=item,
    )
    assert version.inspection_id == started.pk
    assert Inspection.objects.count() == 1


def test_a_sweep_visits_registered_places_of_its_own_area_only(
    inspector_wenchang: User, round_: Round
) -> None:
    sweep = Task.objects.create(
        round=round_,
        inspector=inspector_wenchang,
        kind=TaskKind.SWEEP,
        region=f.wenchang(),
        instructions="走访体育路沿街门面",
    )
    inside = make_institution("文昌沿街书法班")
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), task=sweep, institution=inside
    )
    assert (inspection.task_id, inspection.item_id) == (sweep.pk, None)
    elsewhere = registry_services.institution_create(
        actor=None,
        name="槐荫某培训点",
        region=Region.objects.get(code=HUAIYIN),
        source=Source.IMPORT,
    )
    before = state()
    with pytest.raises(ServiceError):
        services.inspection_start(
            actor=inspector_wenchang, client_id=uuid.uuid4(), task=sweep, institution=elsewhere
        )
    assert state() == before
