"""Review: approve or return a submission (approved flags become a lead), and field finds.

The demo city is loaded once for the module; every refusal is checked to leave the screening
rows, the registry, the loop, the log and the notifications as they were.
"""

from __future__ import annotations

import functools
import io
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone, translation
from PIL import Image

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo import data
from bihuan.leads import evidence
from bihuan.leads.models import Attachment, Lead
from bihuan.leads.tests import factories as lf
from bihuan.leads.workflow import LeadSource
from bihuan.notifications.models import Notification
from bihuan.registry import services as registry_services
from bihuan.registry.models import Institution, MatchCandidate, Source
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.screening import review_services
from bihuan.screening.models import (
    Inspection,
    InspectionParticipant,
    InspectionPhoto,
    InspectionReview,
    InspectionVersion,
    TaskItem,
)
from bihuan.screening.tests import factories as f
from bihuan.screening.workflow import InspectionStatus, ReviewDecision, VisitOutcome

pytestmark = pytest.mark.django_db

FLAG = {
    "question": "licence_displayed",
    "answer": "no",
    "violation_types": ["A2"],
    "note": "墙上未见办学许可证",
}
VALUES = {"licence_displayed": "no", "provides_meals": "no", "students_present": 12}
NOTES = {"licence_displayed": "墙上未见办学许可证"}


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    # Overrides conftest's: the city is already there, the personas only look themselves up.
    return {}


@pytest.fixture(autouse=True)
def _media_and_language(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path
    # The assertions read the English messages; the Chinese catalogue is filled separately.
    with translation.override("en"):
        yield


def jpeg(size: int = 8, *, noise: bool = False) -> bytes:
    """A real JPEG; with noise it does not compress, so its size grows with ``size``."""
    image = Image.new("RGB", (size, size), (200, 30, 30))
    if noise:
        rng = random.Random(size)
        image.putdata(
            [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size**2)]
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def photo(
    inspection: Inspection, question: str = "licence_displayed", content: bytes | None = None
) -> InspectionPhoto:
    """A photo of the visit stored through the FileField, listed on the current version."""
    content = content or jpeg()
    row = InspectionPhoto(
        inspection=inspection,
        question=question,
        client_id=uuid.uuid4(),
        content_type="image/jpeg",
        size=len(content),
        width=8,
        height=8,
        sha256="0" * 64,
        uploaded_by=inspection.inspector,
    )
    row.file.save(f"{uuid.uuid4().hex}.jpg", ContentFile(content), save=False)
    row.save()
    version = inspection.versions.get(number=inspection.version)
    version.photo_ids = [*version.photo_ids, row.pk]
    version.save(update_fields=["photo_ids"])
    return row


def _items(inspector: User, count: int = 1) -> list[TaskItem]:
    places = [lf.institution_make(f"文昌测试培训点{uuid.uuid4().hex[:8]}") for _n in range(count)]
    round_ = f.issued_round(inspector, places)
    return list(round_.items.order_by("position"))


def _flagged(inspector: User) -> Inspection:
    (item,) = _items(inspector)
    inspection = f.submitted_inspection(item, values=VALUES, notes=NOTES, flags=[dict(FLAG)])
    Inspection.objects.filter(pk=inspection.pk).update(
        latitude="30.924500", longitude="113.916600", accuracy_m=12
    )
    inspection.refresh_from_db()
    return inspection


def _plain(inspector: User) -> Inspection:
    (item,) = _items(inspector)
    return f.submitted_inspection(item, values={**VALUES, "licence_displayed": "yes"})


def _fingerprint() -> Any:
    return lf.fingerprint("screening", "registry", "leads", "audit", "notifications")


def _refused(
    call: Callable[[], Any], error: type[ServiceError] = ServiceError, match: str | None = None
) -> ServiceError:
    before = _fingerprint()
    with pytest.raises(error, match=match) as refused:
        call()
    assert _fingerprint() == before
    return refused.value


def _second_version(inspection: Inspection, **answers: Any) -> Inspection:
    """What the phone's resubmission leaves: a new version, the inspection submitted again."""
    now = timezone.now()
    InspectionVersion.objects.create(
        inspection=inspection,
        number=inspection.version + 1,
        submission_id=uuid.uuid4(),
        answers={"values": answers.get("values", VALUES), "notes": answers.get("notes", {})},
        flags=answers.get("flags", []),
        outcome=VisitOutcome.VISITED,
        participant_ids=[inspection.inspector_id],
        submitted_by=inspection.inspector,
        submitted_at=now,
    )
    Inspection.objects.filter(pk=inspection.pk).update(
        status=InspectionStatus.SUBMITTED,
        version=inspection.version + 1,
        submitted_at=now,
        flag_count=len(answers.get("flags", [])),
    )
    inspection.refresh_from_db()
    return inspection


def _field_find(name: str = "文昌社区新发现的书法培训点", **extra: Any) -> Institution:
    return registry_services.institution_create(
        actor=None,
        name=name,
        region=lf.region(extra.pop("region_code", data.WENCHANG)),
        source=Source.FIELD,
        status=InstitutionStatus.PENDING,
        **extra,
    )


# ---------------------------------------------------------------------------- approving


def test_approving_without_flags_records_the_decision_and_opens_no_lead(
    coordinator_wenchang: User, inspector_wenchang: User, django_capture_on_commit_callbacks: Any
) -> None:
    inspection = _plain(inspector_wenchang)
    with django_capture_on_commit_callbacks(execute=True):
        review_services.inspection_approve(actor=coordinator_wenchang, inspection=inspection)
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.APPROVED
    assert (inspection.approved_by, inspection.lead) == (coordinator_wenchang, None)
    assert inspection.approved_at is not None
    review = InspectionReview.objects.get(inspection=inspection)
    assert (review.decision, review.version.number, review.reviewer) == (
        ReviewDecision.APPROVED,
        1,
        coordinator_wenchang,
    )
    event = Event.objects.filter(verb="inspection.approved", object_id=str(inspection.pk)).get()
    before, after = event.before or {}, event.after or {}
    assert (before["status"], after["status"]) == ("submitted", "approved")
    told = Notification.objects.get(user=inspector_wenchang, kind="inspection.approved")
    assert told.url == f"/screening/inspections/{inspection.pk}/"


def test_approved_flags_become_one_lead_classified_and_carrying_the_photos(
    coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    inspection = _flagged(inspector_wenchang)
    flagged = [photo(inspection), photo(inspection)]
    photo(inspection, question="")  # a general photo of the visit is not evidence of the flag
    removed = photo(inspection)
    InspectionPhoto.objects.filter(pk=removed.pk).update(removed_at=timezone.now())
    review_services.inspection_approve(actor=coordinator_wenchang, inspection=inspection)
    inspection.refresh_from_db()
    lead = inspection.lead
    assert lead is not None
    assert (lead.source, lead.institution, lead.region) == (
        LeadSource.INSPECTION,
        inspection.institution,
        inspection.region,
    )
    assert [t.code for t in lead.violation_types.all()] == ["A2"]
    assert "1. 办学许可证在显著位置公示：否（备注：墙上未见办学许可证）" in lead.description
    assert "附现场照片2张" in lead.description
    assert (str(lead.latitude), str(lead.longitude)) == ("30.924500", "113.916600")
    stored = list(Attachment.objects.filter(lead=lead).order_by("pk"))
    assert len(stored) == len(flagged)
    assert {a.original_name for a in stored} == {
        "licence_displayed-1.jpg",
        "licence_displayed-2.jpg",
    }
    assert all(a.content_type == "image/jpeg" for a in stored)
    assert stored[0].file.read() == flagged[0].file.open("rb").read()


def test_only_the_photos_of_the_approved_version_go_with_the_lead(
    coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    inspection = _flagged(inspector_wenchang)
    photo(inspection)
    review_services.inspection_return(
        actor=coordinator_wenchang, inspection=inspection, reason="照片不清楚，请重拍"
    )
    inspection = _second_version(inspection, values=VALUES, notes=NOTES, flags=[dict(FLAG)])
    retaken = photo(inspection)
    review_services.inspection_approve(actor=coordinator_wenchang, inspection=inspection)
    inspection.refresh_from_db()
    assert inspection.lead is not None
    (attachment,) = inspection.lead.attachments.all()
    assert attachment.file.read() == retaken.file.open("rb").read()
    assert "第2版填报" in inspection.lead.description


def test_more_photos_than_a_lead_takes_are_cut_and_the_description_says_so(
    coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    inspection = _flagged(inspector_wenchang)
    for _n in range(evidence.MAX_FILES + 2):
        photo(inspection)
    review_services.inspection_approve(actor=coordinator_wenchang, inspection=inspection)
    lead = Inspection.objects.get(pk=inspection.pk).lead
    assert lead is not None
    assert lead.attachments.count() == evidence.MAX_FILES
    assert "另有2张照片未附上" in lead.description


def test_a_refused_lead_rolls_the_whole_approval_back_with_its_message(
    coordinator_wenchang: User, inspector_wenchang: User, settings: Any
) -> None:
    inspection = _flagged(inspector_wenchang)
    photo(inspection, content=jpeg(96, noise=True))
    settings.EVIDENCE_MAX_BYTES = 1024  # the lead's evidence rules refuse the photo
    error = _refused(
        lambda: review_services.inspection_approve(
            actor=coordinator_wenchang, inspection=inspection
        ),
        match="larger than",
    )
    assert not isinstance(error, NotAllowed)
    assert Inspection.objects.get(pk=inspection.pk).status == InspectionStatus.SUBMITTED
    assert not Lead.objects.filter(source=LeadSource.INSPECTION).exists()


def test_a_field_find_is_approved_before_its_inspection(
    coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    found = _field_find()
    round_ = f.issued_round(inspector_wenchang, [found])
    inspection = f.submitted_inspection(round_.items.get())
    Inspection.objects.filter(pk=inspection.pk).update(is_field_find=True)
    _refused(
        lambda: review_services.inspection_approve(
            actor=coordinator_wenchang, inspection=inspection
        ),
        match="approve the new institution first",
    )
    review_services.field_find_approve(actor=coordinator_wenchang, institution=found)
    review_services.inspection_approve(actor=coordinator_wenchang, inspection=inspection)
    assert Inspection.objects.get(pk=inspection.pk).status == InspectionStatus.APPROVED


def test_a_decided_version_is_not_decided_again(
    coordinator_wenchang: User, supervisor_city: User, inspector_wenchang: User
) -> None:
    inspection = _plain(inspector_wenchang)
    review_services.inspection_approve(actor=coordinator_wenchang, inspection=inspection)
    for call in (
        lambda: review_services.inspection_approve(actor=supervisor_city, inspection=inspection),
        lambda: review_services.inspection_return(
            actor=supervisor_city, inspection=inspection, reason="重填"
        ),
    ):
        _refused(call, match="cannot become")
    assert InspectionReview.objects.filter(inspection=inspection).count() == 1


# ---------------------------------------------------------------------------- returning


def test_a_return_needs_a_reason(coordinator_wenchang: User, inspector_wenchang: User) -> None:
    inspection = _plain(inspector_wenchang)
    for reason in ("", "   "):
        _refused(
            functools.partial(
                review_services.inspection_return,
                actor=coordinator_wenchang,
                inspection=inspection,
                reason=reason,
            ),
            match="reason",
        )


def test_a_return_tells_the_inspector_what_to_correct_and_links_the_edit_page(
    coordinator_wenchang: User, inspector_wenchang: User, django_capture_on_commit_callbacks: Any
) -> None:
    inspection = _plain(inspector_wenchang)
    with django_capture_on_commit_callbacks(execute=True):
        review_services.inspection_return(
            actor=coordinator_wenchang, inspection=inspection, reason="  缺少门头照片  "
        )
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.RETURNED
    review = InspectionReview.objects.get(inspection=inspection)
    assert (review.decision, review.reason) == (ReviewDecision.RETURNED, "缺少门头照片")
    told = Notification.objects.get(user=inspector_wenchang, kind="inspection.returned")
    assert told.url == f"/screening/inspections/{inspection.pk}/edit/"
    assert "缺少门头照片" in told.title


def test_every_version_is_kept_with_one_decision_each(
    coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    inspection = _plain(inspector_wenchang)
    review_services.inspection_return(
        actor=coordinator_wenchang, inspection=inspection, reason="人数填写有误"
    )
    inspection = _second_version(inspection, values={**VALUES, "students_present": 8})
    review_services.inspection_approve(actor=coordinator_wenchang, inspection=inspection)
    decided = list(
        InspectionReview.objects.filter(inspection=inspection)
        .order_by("version__number")
        .values_list("version__number", "decision")
    )
    assert decided == [(1, ReviewDecision.RETURNED), (2, ReviewDecision.APPROVED)]
    assert inspection.versions.count() == 2


# ---------------------------------------------------------------------------- who may decide


def test_nobody_reviews_their_own_visit(
    coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    own = _plain(coordinator_wenchang)  # a coordinator may inspect too
    _refused(
        lambda: review_services.inspection_approve(actor=coordinator_wenchang, inspection=own),
        NotAllowed,
    )
    shared = _plain(inspector_wenchang)
    InspectionParticipant.objects.create(inspection=shared, user=coordinator_wenchang)
    _refused(
        lambda: review_services.inspection_return(
            actor=coordinator_wenchang, inspection=shared, reason="请补充"
        ),
        NotAllowed,
    )


REVIEWERS = {
    "supervisor_city": True,
    "supervisor_xiaonan": True,
    "coordinator_wenchang": True,
    "coordinator_huaiyin": False,  # another community
    "inspector_wenchang": False,
    "officer_market": False,
    "school_tiyulu": False,
    "area_guangchang": False,
    "admin_system": False,
    "admin_audit": False,
}


@pytest.mark.parametrize(("persona", "allowed"), REVIEWERS.items())
@pytest.mark.parametrize("decision", ["approve", "return"])
def test_who_may_decide_on_a_submission(
    persona: str, allowed: bool, decision: str, request: pytest.FixtureRequest
) -> None:
    actor = request.getfixturevalue(persona)
    inspection = _plain(User.objects.get(username="inspector2"))

    def call() -> Any:
        if decision == "approve":
            return review_services.inspection_approve(actor=actor, inspection=inspection)
        return review_services.inspection_return(
            actor=actor, inspection=inspection, reason="请补充照片"
        )

    if not allowed:
        _refused(call, NotAllowed)
        return
    call()
    expected = InspectionStatus.APPROVED if decision == "approve" else InspectionStatus.RETURNED
    assert Inspection.objects.get(pk=inspection.pk).status == expected


# ---------------------------------------------------------------------------- field finds


def test_approving_a_field_find_registers_it_and_queues_its_look_alikes(
    coordinator_wenchang: User,
) -> None:
    registered = lf.institution_make("孝南区星光书法培训中心")
    found = _field_find("孝南区星光书法培训中心（文昌）")
    result = review_services.field_find_approve(actor=coordinator_wenchang, institution=found)
    found.refresh_from_db()
    assert found.status == InstitutionStatus.REGISTERED
    assert result.queued == 1
    pair = MatchCandidate.objects.get()
    assert {pair.institution_id, pair.candidate_id} == {registered.pk, found.pk}
    event = Event.objects.filter(verb="institution.status_changed", object_id=str(found.pk)).latest(
        "pk"
    )
    before, after = event.before or {}, event.after or {}
    assert (before["status"], after["status"]) == ("pending", "registered")
    assert after["via"] == "screening.field_find_approved"
    # Even a sure match waits for the bureau: a coordinator never merges.
    assert not Institution.objects.filter(merged_into__isnull=False, pk=found.pk).exists()


def test_a_field_find_like_nothing_queues_nothing(coordinator_wenchang: User) -> None:
    found = _field_find("独一无二的陶艺工作室")
    result = review_services.field_find_approve(actor=coordinator_wenchang, institution=found)
    assert result.queued == 0
    assert not MatchCandidate.objects.filter(institution=found).exists()
    assert not MatchCandidate.objects.filter(candidate=found).exists()


def test_only_a_pending_field_find_is_approved_or_rejected(coordinator_wenchang: User) -> None:
    registered = lf.institution_make("孝南区启明艺术中心")
    _refused(
        lambda: review_services.field_find_approve(
            actor=coordinator_wenchang, institution=registered
        ),
        match="not waiting",
    )
    found = _field_find()
    review_services.field_find_approve(actor=coordinator_wenchang, institution=found)
    _refused(
        lambda: review_services.field_find_reject(
            actor=coordinator_wenchang, institution=found, reason="重复"
        ),
        match="not waiting",
    )


def test_rejecting_a_field_find_closes_it_with_the_reason_and_keeps_it(
    coordinator_wenchang: User,
) -> None:
    found = _field_find()
    _refused(
        lambda: review_services.field_find_reject(
            actor=coordinator_wenchang, institution=found, reason=" "
        ),
        match="reason",
    )
    review_services.field_find_reject(
        actor=coordinator_wenchang, institution=found, reason="是托管班，不属于培训机构"
    )
    found.refresh_from_db()
    assert found.status == InstitutionStatus.CLOSED
    event = Event.objects.filter(verb="institution.status_changed", object_id=str(found.pk)).latest(
        "pk"
    )
    assert (event.after or {})["reason"] == "是托管班，不属于培训机构"


FIELD_FIND_DECIDERS = {
    "supervisor_city": True,
    "coordinator_wenchang": True,
    "coordinator_huaiyin": False,
    "inspector_wenchang": False,
    "officer_market": False,
    "school_tiyulu": False,
    "admin_system": False,
}


@pytest.mark.parametrize(("persona", "allowed"), FIELD_FIND_DECIDERS.items())
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_who_may_decide_on_a_field_find(
    persona: str, allowed: bool, decision: str, request: pytest.FixtureRequest
) -> None:
    actor = request.getfixturevalue(persona)
    found = _field_find()

    def call() -> Any:
        if decision == "approve":
            return review_services.field_find_approve(actor=actor, institution=found)
        return review_services.field_find_reject(actor=actor, institution=found, reason="非培训")

    if not allowed:
        _refused(call, NotAllowed)
        return
    call()
    expected = InstitutionStatus.REGISTERED if decision == "approve" else InstitutionStatus.CLOSED
    assert Institution.objects.get(pk=found.pk).status == expected
