"""The coordinator's decisions: approve or return a submitted inspection, approve or reject a
field find.

Each function locks the row it changes, checks the move against ``workflow`` and that the actor
manages the place (``selectors.inspections_reviewed_by`` / ``field_finds_reviewed_by``: never one's
own visit), saves, records an audit event and leaves notifications to ``transaction.on_commit``.
Approving a version with flagged answers opens one lead through ``leads.services.lead_create``
in the same transaction: if the lead is refused, nothing of the approval is kept.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads import evidence
from bihuan.leads.models import Lead, ViolationType
from bihuan.leads.services import lead_create
from bihuan.leads.workflow import LeadSource
from bihuan.registry import matching
from bihuan.registry.models import Institution, MatchCandidate, Source
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.registry.services import institution_move_status
from bihuan.screening.models import (
    Inspection,
    InspectionPhoto,
    InspectionReview,
    InspectionVersion,
)
from bihuan.screening.selectors import field_finds_reviewed_by, inspections_reviewed_by
from bihuan.screening.workflow import INSPECTION_MOVES, InspectionStatus, ReviewDecision
from bihuan.territory.codes import ancestor_paths

INSPECTION_FIELDS = ["status", "version", "approved_at", "approved_by", "lead", "flag_count"]
REASON_LIMIT = 2000
# Duplicates a field find is compared with: this many of the best-scoring records.
MATCHES_QUEUED = 10


@dataclass(frozen=True)
class FieldFindApproval:
    """An approved field find and how many possible duplicates went to the bureau's review."""

    institution: Institution
    queued: int


# ---------------------------------------------------------------------------- helpers


def _reason(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ServiceError(_("Please give a reason."), field="reason")
    if len(value) > REASON_LIMIT:
        raise ServiceError(
            _("Keep the reason under %(n)d characters.") % {"n": REASON_LIMIT}, field="reason"
        )
    return value


def _lock_for_review(actor: Any, inspection: Inspection) -> Inspection:
    """Lock the inspection and check the actor may decide on it (its place, not their visit)."""
    if actor is None or not can(actor, Capability.ROUND_MANAGE):
        raise NotAllowed(_("Your roles do not allow reviewing inspections."))
    # Lock the bare row: a FOR UPDATE over the scope's joins would lock regions too on PostgreSQL.
    locked = Inspection.objects.select_for_update().get(pk=inspection.pk)
    if not inspections_reviewed_by(actor).filter(pk=locked.pk).exists():
        raise NotAllowed(_("You may not review this inspection."))
    return locked


def _move(inspection: Inspection, target: str) -> None:
    if target not in INSPECTION_MOVES.get(inspection.status, frozenset()):
        raise ServiceError(
            _("An inspection that is “%(a)s” cannot become “%(b)s”.")
            % {"a": inspection.get_status_display(), "b": InspectionStatus(target).label}
        )
    inspection.status = target


def _current_version(inspection: Inspection) -> InspectionVersion:
    return InspectionVersion.objects.get(inspection=inspection, number=inspection.version)


def _review(
    actor: Any, inspection: Inspection, version: InspectionVersion, decision: str, reason: str
) -> InspectionReview:
    return InspectionReview.objects.create(
        inspection=inspection,
        version=version,
        decision=decision,
        reason=reason,
        reviewer=actor,
        decided_at=timezone.now(),
    )


def _notify_later(users: Iterable[Any], *, kind: str, title: str, url: str, key: str) -> None:
    """Tell people after the change commits (a refused or rolled-back change tells nobody)."""
    from bihuan.notifications.services import notify

    people = list(users)

    def send() -> None:
        notify(users=people, kind=kind, title=title[:200], url=url, key=key[:200])

    transaction.on_commit(send)


# ---------------------------------------------------------------------------- flagged answers


def questions_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The checklist's questions keyed by name."""
    return {q["name"]: q for q in definition.get("questions", []) if isinstance(q, dict)}


def answer_text(question: dict[str, Any] | None, value: Any, *, english: bool = False) -> str:
    """An answer as people read it: choice labels for choices, the number, text or position."""
    if value is None or value == "" or value == []:
        return ""
    key = "label_en" if english else "label"
    labels = {
        c.get("name"): c.get(key) or c.get("label") or c.get("name")
        for c in (question or {}).get("choices", [])
    }
    if isinstance(value, list):
        return "、".join(str(labels.get(v, v)) for v in value)
    if isinstance(value, dict) and "lat" in value:
        return f"{value.get('lat')}, {value.get('lng')}"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(labels.get(value, value)) if isinstance(value, str) else str(value)


def _flag_codes(flags: Sequence[dict[str, Any]], questions: dict[str, dict[str, Any]]) -> list[str]:
    codes: list[str] = []
    for flag in flags:
        named = flag.get("violation_types")
        if named is None:
            named = questions.get(flag.get("question", ""), {}).get("violation_types", [])
        codes += [c for c in named if c not in codes]
    return codes


def _flag_photos(version: InspectionVersion, names: list[str]) -> list[InspectionPhoto]:
    """The version's photos of the flagged questions, in the order the questions were flagged."""
    photos = list(
        InspectionPhoto.objects.filter(
            inspection_id=version.inspection_id,
            pk__in=[int(p) for p in version.photo_ids or []],
            question__in=names,
            removed_at__isnull=True,
        ).order_by("uploaded_at", "pk")
    )
    rank = {name: i for i, name in enumerate(names)}
    return sorted(photos, key=lambda p: rank.get(p.question, len(rank)))


def lead_description(
    inspection: Inspection,
    version: InspectionVersion,
    *,
    photos_attached: int = 0,
    photos_left_out: int = 0,
) -> str:
    """The lead's description: each flagged question with its answer and note.

    Written in Chinese whatever the reviewer's language: the lead is a record read by the bureau
    and the departments, not a page of the interface.
    """
    questions = questions_by_name(inspection.checklist.definition or {})
    notes = (version.answers or {}).get("notes", {})
    values = (version.answers or {}).get("values", {})
    visited = timezone.localtime(inspection.visited_at or version.submitted_at)
    lines = [
        f"现场排查发现（{inspection.institution.name}，{visited:%Y-%m-%d}，"
        f"第{version.number}版填报）：",
    ]
    for i, flag in enumerate(version.flags or [], start=1):
        name = flag.get("question", "")
        question = questions.get(name)
        label = (question or {}).get("label") or flag.get("label") or name
        value = values.get(name, flag.get("answer"))
        answer = answer_text(question, value) or "—"
        note = (flag.get("note") or notes.get(name) or "").strip()
        lines.append(f"{i}. {label}：{answer}" + (f"（备注：{note}）" if note else ""))
    if version.note:
        lines.append(f"排查说明：{version.note}")
    if photos_attached:
        lines.append(f"附现场照片{photos_attached}张。")
    if photos_left_out:
        lines.append(f"另有{photos_left_out}张照片未附上，请在排查记录中查看。")
    return "\n".join(lines)


def _lead_from_flags(actor: Any, inspection: Inspection, version: InspectionVersion) -> Lead:
    """One lead for the version's flagged answers, pre-classified and carrying the evidence."""
    questions = questions_by_name(inspection.checklist.definition or {})
    flags = list(version.flags or [])
    names = [f.get("question", "") for f in flags]
    codes = _flag_codes(flags, questions)
    types = list(ViolationType.objects.filter(code__in=codes, is_active=True).order_by("code"))
    photos = _flag_photos(version, names)
    kept, left_out = photos[: evidence.MAX_FILES], len(photos) - evidence.MAX_FILES
    files = []
    for n, photo in enumerate(kept, start=1):
        with photo.file.open("rb") as stored:
            data = stored.read()
        ext = posixpath.splitext(photo.file.name)[1] or ".jpg"
        files.append(ContentFile(data, name=f"{photo.question or 'photo'}-{n}{ext}"))
    return lead_create(
        actor=actor,
        source=LeadSource.INSPECTION,
        description=lead_description(
            inspection, version, photos_attached=len(kept), photos_left_out=max(0, left_out)
        ),
        institution=inspection.institution,
        region=inspection.region,
        latitude=inspection.latitude,
        longitude=inspection.longitude,
        violation_types=types,
        files=files,
    )


# ---------------------------------------------------------------------------- inspections


@transaction.atomic
def inspection_approve(*, actor: Any, inspection: Inspection) -> Inspection:
    """Approve the submitted version; its flagged answers become one lead in the loop."""
    inspection = _lock_for_review(actor, inspection)
    before = snapshot(inspection, INSPECTION_FIELDS)
    _move(inspection, InspectionStatus.APPROVED)
    if inspection.institution.status == InstitutionStatus.PENDING:
        raise ServiceError(
            _(
                "“%(name)s” was found in the field and is not approved yet: approve the new "
                "institution first."
            )
            % {"name": inspection.institution.name}
        )
    version = _current_version(inspection)
    now = timezone.now()
    inspection.approved_at = now
    inspection.approved_by = actor
    review = _review(actor, inspection, version, ReviewDecision.APPROVED, "")
    if version.flags and inspection.lead_id is None:
        inspection.lead = _lead_from_flags(actor, inspection, version)
    inspection.save()
    event_record(
        actor=actor,
        verb="inspection.approved",
        obj=inspection,
        before=before,
        after=snapshot(inspection, INSPECTION_FIELDS) | {"review": review.pk},
    )
    _notify_later(
        [inspection.inspector],
        kind="inspection.approved",
        title=_("Your inspection of %(name)s was approved") % {"name": inspection.institution.name},
        url=reverse("screening:inspection_detail", args=[inspection.pk]),
        key=f"inspection.approved:{inspection.pk}",
    )
    return inspection


@transaction.atomic
def inspection_return(*, actor: Any, inspection: Inspection, reason: str) -> Inspection:
    """Return the submitted version for correction, saying why; the inspector sends a new one."""
    reason = _reason(reason)
    inspection = _lock_for_review(actor, inspection)
    before = snapshot(inspection, INSPECTION_FIELDS)
    _move(inspection, InspectionStatus.RETURNED)
    version = _current_version(inspection)
    review = _review(actor, inspection, version, ReviewDecision.RETURNED, reason)
    inspection.save()
    event_record(
        actor=actor,
        verb="inspection.returned",
        obj=inspection,
        before=before,
        after=snapshot(inspection, INSPECTION_FIELDS) | {"review": review.pk, "reason": reason},
    )
    _notify_later(
        [inspection.inspector],
        kind="inspection.returned",
        title=_("Your inspection of %(name)s was returned: %(reason)s")
        % {"name": inspection.institution.name, "reason": reason},
        url=reverse("screening:inspection_edit", args=[inspection.pk]),
        # One per version: a second return of a corrected version tells the inspector again.
        key=f"inspection.returned:{inspection.pk}:{version.number}",
    )
    return inspection


# ---------------------------------------------------------------------------- field finds


def _lock_field_find(actor: Any, institution: Institution) -> Institution:
    """Lock a field find and check it waits for approval in a place the actor manages.

    Coordinators decide field finds without the registry's REGISTRY_MANAGE (which also lets one
    import, edit and merge): ROUND_MANAGE over the institution's place is what this needs.
    """
    if actor is None or not can(actor, Capability.ROUND_MANAGE):
        raise NotAllowed(_("Your roles do not allow approving institutions found in the field."))
    locked = Institution.objects.select_for_update().get(pk=institution.pk)
    if locked.source != Source.FIELD or locked.status != InstitutionStatus.PENDING:
        raise ServiceError(_("This institution is not waiting for approval."))
    if not field_finds_reviewed_by(actor).filter(pk=locked.pk).exists():
        raise NotAllowed(_("This institution is outside your area."))
    return locked


def _set_status(actor: Any, institution: Institution, status: str, verb: str, **extra: Any) -> None:
    """Move the institution along the registry's moves, recorded with the registry's own verb."""
    # The registry's verb and fields, so the institution's history page shows the change.
    institution_move_status(actor=actor, institution=institution, status=status, via=verb, **extra)


def _reporters_of(institution: Institution) -> list[Any]:
    return [
        i.inspector
        for i in Inspection.objects.filter(institution=institution, is_field_find=True)
        .select_related("inspector")
        .order_by("pk")
    ]


def _queue_matches(actor: Any, institution: Institution) -> int:
    """Run the registry's matcher over the district; every match goes to the bureau's review.

    Even a sure match is queued rather than merged: merging is the bureau's decision
    (REGISTRY_MANAGE), which coordinators do not hold.
    """
    paths = ancestor_paths(institution.region.path)
    district = paths[min(2, len(paths) - 1)]
    candidates = Institution.objects.filter(region__path__startswith=district)
    found = matching.find_matches(
        matching.MatchInput.from_institution(institution), candidates, limit=MATCHES_QUEUED
    )
    queued = 0
    for other, score in found:
        first, second = sorted((institution.pk, other.pk))
        known = MatchCandidate.objects.filter(institution_id=first, candidate_id=second).exists()
        matching.queue_candidate(institution, other, score, actor=actor)
        queued += not known
    return queued


@transaction.atomic
def field_find_approve(*, actor: Any, institution: Institution) -> FieldFindApproval:
    """Register an institution found in the field, then queue its possible duplicates."""
    institution = _lock_field_find(actor, institution)
    _set_status(actor, institution, InstitutionStatus.REGISTERED, "screening.field_find_approved")
    # Each queued pair records its own event (match_candidate.queued).
    queued = _queue_matches(actor, institution)
    _notify_later(
        _reporters_of(institution),
        kind="field_find.approved",
        title=_("%(name)s, which you found in the field, is now in the registry")
        % {"name": institution.name},
        url="",
        key=f"field_find.approved:{institution.pk}",
    )
    return FieldFindApproval(institution=institution, queued=queued)


@transaction.atomic
def field_find_reject(*, actor: Any, institution: Institution, reason: str) -> Institution:
    """Close a field find that is not a tutoring institution (kept, never deleted), saying why."""
    reason = _reason(reason)
    institution = _lock_field_find(actor, institution)
    _set_status(
        actor,
        institution,
        InstitutionStatus.CLOSED,
        "screening.field_find_rejected",
        reason=reason,
    )
    _notify_later(
        _reporters_of(institution),
        kind="field_find.rejected",
        title=_("%(name)s, which you found in the field, was not registered: %(reason)s")
        % {"name": institution.name, "reason": reason},
        url="",
        key=f"field_find.rejected:{institution.pk}",
    )
    return institution
