"""States of checklist versions, rounds, tasks and inspections, and the moves allowed between them.

Data only, no database: the services check every move against these tables.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")
    RETIRED = "retired", _("retired")


VERSION_MOVES: dict[str, frozenset[str]] = {
    VersionStatus.DRAFT: frozenset({VersionStatus.PUBLISHED}),
    # A published version never changes again; it may only be taken out of use.
    VersionStatus.PUBLISHED: frozenset({VersionStatus.RETIRED}),
    VersionStatus.RETIRED: frozenset(),
}


class RoundStatus(models.TextChoices):
    DRAFT = "draft", _("draft")  # generated, being adjusted by the coordinator
    ISSUED = "issued", _("issued")  # inspectors have their task tables
    CLOSED = "closed", _("closed")


ROUND_MOVES: dict[str, frozenset[str]] = {
    RoundStatus.DRAFT: frozenset({RoundStatus.ISSUED, RoundStatus.CLOSED}),
    RoundStatus.ISSUED: frozenset({RoundStatus.CLOSED}),
    RoundStatus.CLOSED: frozenset(),
}


class TaskKind(models.TextChoices):
    INSTITUTIONS = "institutions", _("institutions to visit")
    SWEEP = "sweep", _("sweep (walk the streets, report what you find)")


class ItemStatus(models.TextChoices):
    """Where one institution of a task table stands (derived from its inspection)."""

    PENDING = "pending", _("to visit")
    DRAFT = "draft", _("started")
    SUBMITTED = "submitted", _("submitted")
    RETURNED = "returned", _("returned for correction")
    APPROVED = "approved", _("approved")


class InspectionStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    SUBMITTED = "submitted", _("submitted, awaiting review")
    RETURNED = "returned", _("returned for correction")
    APPROVED = "approved", _("approved")


INSPECTION_MOVES: dict[str, frozenset[str]] = {
    InspectionStatus.DRAFT: frozenset({InspectionStatus.SUBMITTED}),
    InspectionStatus.SUBMITTED: frozenset({InspectionStatus.RETURNED, InspectionStatus.APPROVED}),
    InspectionStatus.RETURNED: frozenset({InspectionStatus.SUBMITTED}),
    InspectionStatus.APPROVED: frozenset(),
}

# Inspections the inspector may still edit.
INSPECTION_EDITABLE = frozenset({InspectionStatus.DRAFT, InspectionStatus.RETURNED})

ITEM_STATUS_OF_INSPECTION: dict[str, str] = {
    InspectionStatus.DRAFT: ItemStatus.DRAFT,
    InspectionStatus.SUBMITTED: ItemStatus.SUBMITTED,
    InspectionStatus.RETURNED: ItemStatus.RETURNED,
    InspectionStatus.APPROVED: ItemStatus.APPROVED,
}


class VisitOutcome(models.TextChoices):
    """What the inspector found at the door."""

    VISITED = "visited", _("inspected on site")
    CLOSED = "closed", _("closed down or moved away")
    NOT_FOUND = "not_found", _("not found at the address")
    REFUSED = "refused", _("entry refused")


class ReviewDecision(models.TextChoices):
    APPROVED = "approved", _("approved")
    RETURNED = "returned", _("returned for correction")
