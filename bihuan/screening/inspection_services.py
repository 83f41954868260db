"""The inspector's writes: start a visit, keep its draft, photos and co-inspectors, submit it, and
report an institution found in the field.

Every write is the inspector's own (INSPECT capability, their own task, in an issued round). The
phone makes a ``client_id`` for each visit and a ``submission_id`` for each attempt to submit, so
that a retried or doubled post finds the row the first one made instead of adding another: the
unique constraints on those ids are the last word, and a losing concurrent insert re-reads the
winner's row inside a savepoint. Lock order: the task, then the inspection (``_lock``).
"""

from __future__ import annotations

import datetime
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.selectors import people_over
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.registry.models import Category, Datum, Institution, Source
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.screening import checklists, selectors
from bihuan.screening.models import (
    Inspection,
    InspectionParticipant,
    InspectionPhoto,
    InspectionVersion,
    Task,
    TaskItem,
)
from bihuan.screening.photos import ProcessedPhoto, process_photo
from bihuan.screening.workflow import (
    INSPECTION_EDITABLE,
    INSPECTION_MOVES,
    InspectionStatus,
    RoundStatus,
    TaskKind,
    VisitOutcome,
)

INSPECTION_FIELDS = [
    "status",
    "version",
    "outcome",
    "visited_at",
    "latitude",
    "longitude",
    "accuracy_m",
    "distance_m",
    "is_far",
    "flag_count",
    "submitted_at",
]
# Bounds that keep one phone from filling the database: a draft, a note, the photos of a visit.
DRAFT_MAX_CHARS = 200_000
NOTE_MAX_CHARS = 4000
ANSWER_NOTE_MAX_CHARS = 1000
MAX_PHOTOS = 60
VISIT_CLOCK_SKEW = datetime.timedelta(minutes=10)
EARTH_RADIUS_M = 6_371_008.8


class ChecklistErrors(ServiceError):
    """A submission refused for its answers: one message per question, nothing was written."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(_("Some answers need attention; see the questions marked below."))
        self.errors = dict(errors)


@dataclass(frozen=True)
class PhotoUpload:
    """A photo sent inline with a plain (no-JavaScript) submission."""

    client_id: uuid.UUID
    question: str
    upload: Any
    captured_hint: Any = None


@dataclass(frozen=True)
class Position:
    """A checked position from the phone (WGS-84) with its accuracy in metres."""

    latitude: Decimal | None
    longitude: Decimal | None
    accuracy_m: int | None


# ---------------------------------------------------------------------------- checks


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise ServiceError(_("The page sent a malformed id; reload it."), field=field) from None


def _require_inspect(actor: Any) -> None:
    if not can(actor, Capability.INSPECT):
        raise NotAllowed(_("Your roles do not allow inspections."))


def _require_own_task(actor: Any, task: Task) -> None:
    """The actor's own task, in a round that is issued (neither a draft nor closed)."""
    _require_inspect(actor)
    if task.inspector_id != getattr(actor, "pk", None):
        raise NotAllowed(_("This task belongs to another inspector."))
    if task.round.status != RoundStatus.ISSUED:
        raise ServiceError(_("This round is not open for inspections."))


def _require_editable(actor: Any, inspection: Inspection) -> None:
    _require_own_task(actor, inspection.task)
    if inspection.inspector_id != actor.pk:
        raise NotAllowed(_("This inspection belongs to another inspector."))
    if inspection.status not in INSPECTION_EDITABLE:
        raise ServiceError(
            _("This inspection is “%(s)s” and can no longer be changed. Reload the page.")
            % {"s": inspection.get_status_display()}
        )


def _lock(inspection_pk: int) -> Inspection:
    """The inspection locked for update, with its task and round at hand."""
    return (
        Inspection.objects.select_for_update(of=("self",))
        .select_related("task__round", "institution", "checklist", "region")
        .get(pk=inspection_pk)
    )


def _lock_by_client_id(actor: Any, client_id: uuid.UUID) -> Inspection:
    pk = Inspection.objects.filter(client_id=client_id).values_list("pk", flat=True).first()
    if pk is None:
        raise ServiceError(_("This inspection was not started; reload the page."))
    inspection = _lock(pk)
    if inspection.inspector_id != getattr(actor, "pk", None):
        raise NotAllowed(_("This inspection belongs to another inspector."))
    return inspection


def _text(value: Any, field: str, limit: int) -> str:
    text = str(value or "").strip()
    if len(text) > limit:
        raise ServiceError(_("At most %(n)d characters, please.") % {"n": limit}, field=field)
    return text


def _position(latitude: Any, longitude: Any, accuracy: Any) -> Position:
    if latitude in (None, "") or longitude in (None, ""):
        return Position(None, None, None)
    try:
        lat, lng = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise ServiceError(_("The position must be numbers."), field="position") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or math.isnan(lat) or math.isnan(lng):
        raise ServiceError(_("The position is out of range."), field="position")
    acc: int | None = None
    if accuracy not in (None, ""):
        try:
            acc = max(0, min(round(float(accuracy)), 1_000_000))
        except (TypeError, ValueError, OverflowError):
            raise ServiceError(_("The accuracy must be a number."), field="position") from None
    return Position(Decimal(f"{lat:.6f}"), Decimal(f"{lng:.6f}"), acc)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (a few hundred metres need no ellipsoid)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def distance_check(institution: Institution, position: Position) -> tuple[int | None, bool]:
    """Metres from the registered position, and whether the reviewer should look at it."""
    if position.latitude is None or position.longitude is None:
        return None, False
    far_m = settings.SCREENING_FAR_METRES
    inaccurate = position.accuracy_m is not None and position.accuracy_m > far_m
    if institution.latitude is None or institution.longitude is None:
        return None, inaccurate
    metres = haversine_m(
        float(position.latitude),
        float(position.longitude),
        float(institution.latitude),
        float(institution.longitude),
    )
    return round(metres), inaccurate or metres > far_m


def _visited_at(value: Any, now: datetime.datetime) -> datetime.datetime:
    if value in (None, ""):
        return now
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            raise ServiceError(_("The visit time is malformed."), field="visited_at") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > now + VISIT_CLOCK_SKEW:
        raise ServiceError(_("The visit time is in the future."), field="visited_at")
    return moment


def _inspection_event(
    actor: Any, verb: str, inspection: Inspection, before: dict[str, Any] | None, **extra: Any
) -> None:
    after = snapshot(inspection, INSPECTION_FIELDS)
    after.update(extra)
    event_record(actor=actor, verb=verb, obj=inspection, before=before, after=after)


def _question_names(inspection: Inspection) -> set[str]:
    return {q["name"] for q in (inspection.checklist.definition or {}).get("questions", [])}


# ---------------------------------------------------------------------------- starting a visit


def _existing(actor: Any, client_id: uuid.UUID) -> Inspection | None:
    found = Inspection.objects.filter(client_id=client_id).first()
    if found is not None and found.inspector_id != getattr(actor, "pk", None):
        raise NotAllowed(_("This inspection belongs to another inspector."))
    return found


def _participate(inspection: Inspection, user: Any, added_by: Any) -> None:
    InspectionParticipant.objects.get_or_create(
        inspection=inspection, user=user, defaults={"added_by": added_by}
    )


@transaction.atomic
def inspection_start(
    *,
    actor: Any,
    client_id: Any,
    item: TaskItem | None = None,
    task: Task | None = None,
    institution: Institution | None = None,
) -> Inspection:
    """Begin the visit of a task's institution; the same client_id (or item) finds the same one."""
    _require_inspect(actor)
    client_id = _uuid(client_id, "client_id")
    found = _existing(actor, client_id)
    if found is not None:
        return found
    if item is not None:
        task = item.task
        institution = item.institution
    if task is None or institution is None:
        raise ServiceError(_("Choose an institution of your task."))
    # The task's row serialises starts within a task: two taps on "start" make one inspection.
    task = Task.objects.select_for_update().select_related("round__checklist").get(pk=task.pk)
    _require_own_task(actor, task)
    found = _existing(actor, client_id)
    if found is not None:
        return found
    if item is not None:
        item = TaskItem.objects.get(pk=item.pk)
        if item.task_id != task.pk:
            raise NotAllowed(_("This task belongs to another inspector."))
        already = Inspection.objects.filter(item=item).first()
        if already is not None:
            if already.inspector_id != actor.pk:
                raise NotAllowed(_("This inspection belongs to another inspector."))
            return already
    elif task.kind != TaskKind.SWEEP or not institution.region.path.startswith(task.region.path):
        # Outside its list, a task visits only registered places of its own sweep area.
        raise ServiceError(_("This institution is not on your task."))
    inspection = Inspection(
        client_id=client_id,
        task=task,
        item=item,
        institution=institution,
        region=institution.region,
        checklist=task.round.checklist,
        inspector=actor,
    )
    try:
        with transaction.atomic():
            inspection.save()
    except IntegrityError:
        # The same client_id (or item) committed by a concurrent request after our check.
        winner = Inspection.objects.filter(Q(client_id=client_id) | Q(item=item)).first()
        if winner is None or winner.inspector_id != actor.pk:
            raise
        return winner
    _participate(inspection, actor, actor)
    _inspection_event(actor, "inspection.started", inspection, None, item=item and item.pk)
    return inspection


# ---------------------------------------------------------------------------- the draft


def _draft_payload(
    values: Any, notes: Any, note: Any, outcome: Any, position: Position
) -> dict[str, Any]:
    if not isinstance(values, dict) or not isinstance(notes, dict):
        raise ServiceError(_("The page sent malformed answers; reload it."), field="values")
    if outcome not in VisitOutcome.values:
        outcome = VisitOutcome.VISITED
    draft = {
        "values": values,
        "notes": {str(k): str(v)[:ANSWER_NOTE_MAX_CHARS] for k, v in notes.items()},
        "note": _text(note, "note", NOTE_MAX_CHARS),
        "outcome": outcome,
        "latitude": str(position.latitude) if position.latitude is not None else None,
        "longitude": str(position.longitude) if position.longitude is not None else None,
        "accuracy": position.accuracy_m,
    }
    if len(json.dumps(draft, ensure_ascii=False)) > DRAFT_MAX_CHARS:
        raise ServiceError(_("The draft is too large."), field="values")
    return draft


@transaction.atomic
def inspection_save_draft(
    *,
    actor: Any,
    client_id: Any,
    values: Any,
    notes: Any,
    note: Any = "",
    outcome: Any = VisitOutcome.VISITED,
    latitude: Any = None,
    longitude: Any = None,
    accuracy: Any = None,
) -> datetime.datetime:
    """Keep the unsent answers on the server too; returns when they were saved."""
    _require_inspect(actor)
    inspection = _lock_by_client_id(actor, _uuid(client_id, "client_id"))
    _require_editable(actor, inspection)
    draft = _draft_payload(values, notes, note, outcome, _position(latitude, longitude, accuracy))
    now = timezone.now()
    if draft != inspection.draft:
        inspection.draft = draft
        inspection.draft_saved_at = now
        inspection.save(update_fields=["draft", "draft_saved_at", "updated_at"])
        # Autosave runs every few seconds: the event says that the draft changed, not what.
        event_record(
            actor=actor,
            verb="inspection.draft_saved",
            obj=inspection,
            after={"status": inspection.status, "answers": len(draft["values"])},
        )
    return inspection.draft_saved_at or now


# ---------------------------------------------------------------------------- photos


def _store_photo(
    actor: Any,
    inspection: Inspection,
    client_id: uuid.UUID,
    question: str,
    done: ProcessedPhoto,
    stored: list[str] | None = None,
) -> InspectionPhoto:
    """Write the file through the storage API and its row; a lost race returns the winner's row."""
    photo = InspectionPhoto(
        inspection=inspection,
        question=question,
        client_id=client_id,
        content_type=done.content_type,
        size=len(done.data),
        width=done.width,
        height=done.height,
        sha256=done.sha256,
        captured_at=done.captured_at,
        uploaded_by=actor,
    )
    # The stored name is the digest: nothing the phone sent becomes part of a path.
    photo.file.save(f"{done.sha256}.jpg", ContentFile(done.data), save=False)
    try:
        with transaction.atomic():
            photo.save()
    except IntegrityError:
        photo.file.delete(save=False)
        winner = InspectionPhoto.objects.get(client_id=client_id)
        if winner.inspection_id != inspection.pk:
            raise NotAllowed(_("This photo belongs to another inspection.")) from None
        return winner
    if stored is not None:
        stored.append(photo.file.name)
    event_record(
        actor=actor,
        verb="inspection.photo_added",
        obj=inspection,
        after={"photo": photo.pk, "question": question, "sha256": done.sha256},
    )
    return photo


def _check_question(inspection: Inspection, question: str) -> str:
    question = (question or "").strip()
    if question and question not in _question_names(inspection):
        raise ServiceError(_("This checklist has no such question."), field="photo")
    return question


def _photo_room(inspection: Inspection, adding: int) -> None:
    kept = inspection.photos.filter(removed_at__isnull=True).count()
    if kept + adding > MAX_PHOTOS:
        raise ServiceError(
            _("At most %(n)d photos per inspection.") % {"n": MAX_PHOTOS}, field="photo"
        )


def photo_add(
    *,
    actor: Any,
    inspection: Inspection,
    client_id: Any,
    question: str,
    upload: Any,
    captured_hint: Any = None,
) -> InspectionPhoto:
    """Attach a photo to an editable inspection; the same photo client_id is stored once."""
    _require_inspect(actor)
    client_id = _uuid(client_id, "photo")
    known = InspectionPhoto.objects.filter(client_id=client_id).first()
    if known is not None:
        if known.inspection_id != inspection.pk or inspection.inspector_id != actor.pk:
            raise NotAllowed(_("This photo belongs to another inspection."))
        return known
    _require_editable(actor, inspection)
    # Decoding and re-encoding take a moment: done before the lock, so other writers never wait.
    done = process_photo(upload, captured_hint=captured_hint)
    stored: list[str] = []
    try:
        with transaction.atomic():
            inspection = _lock(inspection.pk)
            _require_editable(actor, inspection)
            question = _check_question(inspection, question)
            known = InspectionPhoto.objects.filter(client_id=client_id).first()
            if known is not None:
                return known
            _photo_room(inspection, 1)
            return _store_photo(actor, inspection, client_id, question, done, stored)
    except BaseException:
        _forget_files(stored)
        raise


@transaction.atomic
def photo_remove(*, actor: Any, photo: InspectionPhoto) -> InspectionPhoto:
    """Take a photo out of an editable inspection; the file and row are kept."""
    _require_inspect(actor)
    inspection = _lock(photo.inspection_id)
    _require_editable(actor, inspection)
    photo = InspectionPhoto.objects.select_for_update().get(pk=photo.pk)
    if photo.removed_at is None:
        photo.removed_at = timezone.now()
        photo.save(update_fields=["removed_at"])
        event_record(
            actor=actor,
            verb="inspection.photo_removed",
            obj=inspection,
            after={"photo": photo.pk, "question": photo.question},
        )
    return photo


# ---------------------------------------------------------------------------- co-inspectors


def _set_participant(actor: Any, inspection: Inspection, user: User, active: bool) -> None:
    row = InspectionParticipant.objects.filter(inspection=inspection, user=user).first()
    if row is None and active:
        InspectionParticipant.objects.create(inspection=inspection, user=user, added_by=actor)
    elif row is not None and row.is_active != active:
        row.is_active = active
        row.save(update_fields=["is_active"])
    else:
        return
    event_record(
        actor=actor,
        verb="inspection.participant_added" if active else "inspection.participant_removed",
        obj=inspection,
        after={"user": user.pk, "status": inspection.status},
    )


@transaction.atomic
def participant_add(*, actor: Any, inspection: Inspection, user: User) -> InspectionParticipant:
    """Add a co-inspector (an inspector or coordinator of the same street) to the visit."""
    _require_inspect(actor)
    inspection = _lock(inspection.pk)
    _require_editable(actor, inspection)
    if (
        user.pk != inspection.inspector_id
        and not selectors.co_inspector_choices(inspection).filter(pk=user.pk).exists()
    ):
        raise ServiceError(_("Choose a co-inspector from the list."), field="participants")
    _set_participant(actor, inspection, user, True)
    return InspectionParticipant.objects.get(inspection=inspection, user=user)


@transaction.atomic
def participant_remove(*, actor: Any, inspection: Inspection, user: User) -> None:
    """Take a co-inspector off the visit; the inspector always stays on it."""
    _require_inspect(actor)
    inspection = _lock(inspection.pk)
    _require_editable(actor, inspection)
    if user.pk == inspection.inspector_id:
        raise ServiceError(_("The inspector always takes part."), field="participants")
    _set_participant(actor, inspection, user, False)


def _sync_participants(actor: Any, inspection: Inspection, users: Iterable[User]) -> None:
    """Make the co-inspectors exactly ``users`` (the no-JavaScript form sends the whole list)."""
    wanted = {u.pk: u for u in users if u.pk != inspection.inspector_id}
    allowed = set(
        selectors.co_inspector_choices(inspection)
        .filter(pk__in=list(wanted))
        .values_list("pk", flat=True)
    )
    if set(wanted) - allowed:
        raise ServiceError(_("Choose a co-inspector from the list."), field="participants")
    current = {
        p.user_id: p
        for p in InspectionParticipant.objects.filter(inspection=inspection).select_related("user")
    }
    for user in wanted.values():
        _set_participant(actor, inspection, user, True)
    for pk, row in current.items():
        if pk != inspection.inspector_id and pk not in wanted and row.is_active:
            _set_participant(actor, inspection, row.user, False)


# ---------------------------------------------------------------------------- submitting


def _replayed(actor: Any, submission_id: uuid.UUID) -> InspectionVersion | None:
    """The version an earlier post with this submission_id made, if any."""
    version = (
        InspectionVersion.objects.select_related("inspection")
        .filter(submission_id=submission_id)
        .first()
    )
    if version is None:
        return None
    # The id is the phone's random UUID: another inspector's version is refused, never shown.
    if version.inspection.inspector_id != getattr(actor, "pk", None):
        raise NotAllowed(_("This submission belongs to another inspection."))
    return version


def _evaluate(
    inspection: Inspection, values: Any, notes: Any, outcome: str, note: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Answers to keep and flags raised; ChecklistErrors if the checklist is not complete."""
    if not isinstance(values, dict) or not isinstance(notes, dict):
        raise ServiceError(_("The page sent malformed answers; reload it."), field="values")
    if outcome != VisitOutcome.VISITED:
        # Nobody got in: there is no checklist to fill, but the reviewer needs to know why.
        if not note:
            raise ServiceError(
                _("Say what you found at the door (closed, not found or refused)."), field="note"
            )
        return {"values": {}, "notes": {}}, []
    photos: dict[str, list[int]] = {}
    for pk, question in inspection.photos.filter(removed_at__isnull=True).values_list(
        "pk", "question"
    ):
        photos.setdefault(question, []).append(pk)
    clean_notes = {str(k): _text(v, f"q-{k}", ANSWER_NOTE_MAX_CHARS) for k, v in notes.items() if v}
    evaluation = checklists.evaluate(
        inspection.checklist.definition,
        values,
        clean_notes,
        {q: len(ids) for q, ids in photos.items()},
    )
    if evaluation.errors:
        raise ChecklistErrors(evaluation.errors)
    relevant = set(evaluation.relevant)
    flags = [dict(flag, photos=photos.get(flag["question"], [])) for flag in evaluation.flags]
    kept_notes = {k: v for k, v in clean_notes.items() if k in relevant}
    return {"values": evaluation.clean_values, "notes": kept_notes}, flags


def _reviewers_of(inspection: Inspection) -> list[User]:
    """Coordinators and supervisors of the inspection's place and the places above it."""
    return list(
        people_over(inspection.region, selectors.MANAGERS).exclude(pk=inspection.inspector_id)
    )


def _tell_reviewers(inspection: Inspection, version: InspectionVersion) -> None:
    from bihuan.notifications.services import notify

    people = _reviewers_of(inspection)
    title = _("Inspection of %(name)s submitted for review") % {"name": inspection.institution}
    url = f"/screening/inspections/{inspection.pk}/"
    key = f"inspection.submitted:{inspection.pk}:{version.number}"

    def send() -> None:
        notify(users=people, kind="inspection.submitted", title=title[:200], url=url, key=key)

    transaction.on_commit(send)


def _add_inline_photos(
    actor: Any,
    inspection: Inspection,
    processed: Sequence[tuple[PhotoUpload, ProcessedPhoto]],
    stored: list[str],
) -> None:
    if not processed:
        return
    _photo_room(inspection, len(processed))
    for upload, done in processed:
        known = InspectionPhoto.objects.filter(client_id=upload.client_id).first()
        if known is not None:
            continue
        question = _check_question(inspection, upload.question)
        _store_photo(actor, inspection, upload.client_id, question, done, stored)


def inspection_submit(
    *,
    actor: Any,
    client_id: Any,
    submission_id: Any,
    values: Any,
    notes: Any,
    note: Any = "",
    outcome: Any = VisitOutcome.VISITED,
    latitude: Any = None,
    longitude: Any = None,
    accuracy: Any = None,
    visited_at: Any = None,
    item: TaskItem | None = None,
    photos: Sequence[PhotoUpload] = (),
    participants: Sequence[User] | None = None,
) -> InspectionVersion:
    """Send the visit for review as a new version; a replayed submission_id returns that version.

    The plain form (no JavaScript) also sends its photos, its co-inspectors and, for a visit not
    yet started, its ``item``: all of it is written in one transaction, or nothing is.
    """
    _require_inspect(actor)
    client_id = _uuid(client_id, "client_id")
    submission_id = _uuid(submission_id, "submission_id")
    replay = _replayed(actor, submission_id)
    if replay is not None:
        return replay
    # Decoded before any lock is taken (see photo_add).
    processed = [(p, process_photo(p.upload, captured_hint=p.captured_hint)) for p in photos]
    stored: list[str] = []
    try:
        with transaction.atomic():
            return _submit(
                actor,
                client_id,
                submission_id,
                values=values,
                notes=notes,
                note=_text(note, "note", NOTE_MAX_CHARS),
                outcome=str(outcome or ""),
                position=_position(latitude, longitude, accuracy),
                visited_at=visited_at,
                item=item,
                processed=processed,
                participants=participants,
                stored=stored,
            )
    except IntegrityError:
        _forget_files(stored)
        # A concurrent post with the same submission_id won the insert (PostgreSQL lets both
        # through the lock only one after the other, but keep the database as the last word).
        replay = _replayed(actor, submission_id)
        if replay is None:
            raise
        return replay
    except BaseException:
        # The rows rolled back; the files written for them must not outlive them.
        _forget_files(stored)
        raise


def _forget_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def _submit(
    actor: Any,
    client_id: uuid.UUID,
    submission_id: uuid.UUID,
    *,
    values: Any,
    notes: Any,
    note: str,
    outcome: str,
    position: Position,
    visited_at: Any,
    item: TaskItem | None,
    processed: Sequence[tuple[PhotoUpload, ProcessedPhoto]],
    participants: Sequence[User] | None,
    stored: list[str],
) -> InspectionVersion:
    if item is not None:
        # A plain form opened before the visit was started elsewhere carries its own new id: the
        # item's inspection is the one it completes.
        client_id = inspection_start(actor=actor, client_id=client_id, item=item).client_id
    inspection = _lock_by_client_id(actor, client_id)
    # The first of two identical posts has committed by the time the second holds the lock.
    replay = _replayed(actor, submission_id)
    if replay is not None:
        return replay
    _require_editable(actor, inspection)
    if InspectionStatus.SUBMITTED not in INSPECTION_MOVES[inspection.status]:
        raise ServiceError(_("This inspection cannot be submitted now. Reload the page."))
    if outcome not in VisitOutcome.values:
        raise ServiceError(_("Say whether you could inspect the place."), field="outcome")
    now = timezone.now()
    visited = _visited_at(visited_at, now)
    if participants is not None:
        _sync_participants(actor, inspection, participants)
    _add_inline_photos(actor, inspection, processed, stored)
    answers, flags = _evaluate(inspection, values, notes, outcome, note)
    distance, is_far = distance_check(inspection.institution, position)
    before = snapshot(inspection, INSPECTION_FIELDS)
    number = inspection.version + 1
    participant_ids = sorted(
        inspection.participants.filter(is_active=True).values_list("user_id", flat=True)
    )
    photo_ids = sorted(
        inspection.photos.filter(removed_at__isnull=True).values_list("pk", flat=True)
    )
    with transaction.atomic():
        version = InspectionVersion.objects.create(
            inspection=inspection,
            number=number,
            submission_id=submission_id,
            answers=answers,
            flags=flags,
            note=note,
            outcome=outcome,
            latitude=position.latitude,
            longitude=position.longitude,
            accuracy_m=position.accuracy_m,
            participant_ids=participant_ids,
            photo_ids=photo_ids,
            submitted_by=actor,
            submitted_at=now,
        )
    inspection.status = InspectionStatus.SUBMITTED
    inspection.version = number
    inspection.submitted_at = now
    inspection.visited_at = visited
    inspection.outcome = outcome
    inspection.latitude, inspection.longitude = position.latitude, position.longitude
    inspection.accuracy_m = position.accuracy_m
    inspection.distance_m = distance
    inspection.is_far = is_far
    inspection.flag_count = len(flags)
    inspection.draft = {}
    inspection.draft_saved_at = None
    inspection.save()
    _inspection_event(
        actor,
        "inspection.submitted",
        inspection,
        before,
        submission=str(submission_id),
        flags=[f["question"] for f in flags],
        participants=participant_ids,
    )
    _tell_reviewers(inspection, version)
    return version


# ---------------------------------------------------------------------------- field finds


@transaction.atomic
def field_find_report(
    *,
    actor: Any,
    task: Task,
    client_id: Any,
    name: str,
    address: str = "",
    category: str = Category.NONE,
    latitude: Any = None,
    longitude: Any = None,
    accuracy: Any = None,
    note: str = "",
) -> Inspection:
    """Report an institution missing from the registry: a pending record and a draft visit of it."""
    _require_inspect(actor)
    client_id = _uuid(client_id, "client_id")
    found = _existing(actor, client_id)
    if found is not None:
        return found
    task = (
        Task.objects.select_for_update()
        .select_related("round__checklist", "region")
        .get(pk=task.pk)
    )
    _require_own_task(actor, task)
    found = _existing(actor, client_id)
    if found is not None:
        return found
    position = _position(latitude, longitude, accuracy)
    note = _text(note, "note", NOTE_MAX_CHARS)
    from bihuan.registry.services import institution_create

    try:
        with transaction.atomic():
            institution = institution_create(
                actor=actor,
                source=Source.FIELD,
                status=InstitutionStatus.PENDING,
                name=name,
                address=address,
                category=category or Category.NONE,
                region=task.region,
                latitude=position.latitude,
                longitude=position.longitude,
                datum=Datum.WGS84,
            )
            inspection = Inspection.objects.create(
                client_id=client_id,
                task=task,
                item=None,
                institution=institution,
                is_field_find=True,
                region=institution.region,
                checklist=task.round.checklist,
                inspector=actor,
                draft={
                    "values": {},
                    "notes": {},
                    "note": note,
                    "outcome": VisitOutcome.VISITED,
                    "latitude": str(position.latitude) if position.latitude is not None else None,
                    "longitude": str(position.longitude)
                    if position.longitude is not None
                    else None,
                    "accuracy": position.accuracy_m,
                },
            )
    except IntegrityError:
        # The same report committed concurrently: its institution is the only one kept.
        return Inspection.objects.get(client_id=client_id)
    _participate(inspection, actor, actor)
    _inspection_event(
        actor,
        "inspection.field_find_reported",
        inspection,
        None,
        institution=institution.pk,
        task=task.pk,
    )
    return inspection
