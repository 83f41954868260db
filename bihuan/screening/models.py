"""Sentinel screening: checklist templates, rounds, task tables, inspections and their review."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from bihuan.leads.models import Lead
from bihuan.registry.models import Institution
from bihuan.screening.workflow import (
    InspectionStatus,
    ReviewDecision,
    RoundStatus,
    TaskKind,
    VersionStatus,
    VisitOutcome,
)
from bihuan.territory.models import Region


class ChecklistTemplate(models.Model):
    """A checklist (排查表) by name; its questions live in immutable versions."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("checklist template")
        verbose_name_plural = _("checklist templates")

    def __str__(self) -> str:
        return self.name


class ChecklistVersion(models.Model):
    """One version of a checklist: a draft is edited, a published one never changes again.

    ``definition`` holds the questions as validated by ``checklists.validate_definition`` (the
    format is documented there); inspections keep the version they were filled against.
    """

    template = models.ForeignKey(
        ChecklistTemplate,
        on_delete=models.PROTECT,
        related_name="versions",
        verbose_name=_("checklist template"),
    )
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    definition = models.JSONField(_("questions"), default=dict)
    notes = models.CharField(_("what changed"), max_length=500, blank=True)
    source_name = models.CharField(_("imported from"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published by"),
    )

    class Meta:
        ordering = ["template", "-number"]
        verbose_name = _("checklist version")
        verbose_name_plural = _("checklist versions")
        constraints = [
            models.UniqueConstraint(
                fields=["template", "number"], name="checklist_version_unique_number"
            ),
            # One draft at a time, so two editors never publish diverging copies.
            models.UniqueConstraint(
                fields=["template"],
                condition=Q(status=VersionStatus.DRAFT),
                name="checklist_version_one_draft",
            ),
            models.CheckConstraint(
                condition=Q(status=VersionStatus.DRAFT) | Q(published_at__isnull=False),
                name="checklist_version_published_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"


class Round(models.Model):
    """A screening period (排查期) of one place: every institution in it goes to one inspector."""

    name = models.CharField(_("name"), max_length=100)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="rounds", verbose_name=_("region")
    )
    checklist = models.ForeignKey(
        ChecklistVersion,
        on_delete=models.PROTECT,
        related_name="rounds",
        verbose_name=_("checklist"),
    )
    starts_on = models.DateField(_("starts"))
    ends_on = models.DateField(_("ends"))
    status = models.CharField(
        _("status"), max_length=16, choices=RoundStatus.choices, default=RoundStatus.DRAFT
    )
    # What generation found: counts, and the communities it could not staff.
    summary = models.JSONField(_("generation summary"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-starts_on", "-pk"]
        verbose_name = _("screening round")
        verbose_name_plural = _("screening rounds")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="round_ends_after_it_starts"
            ),
            models.CheckConstraint(
                condition=Q(status=RoundStatus.DRAFT)
                | Q(issued_at__isnull=False)
                | Q(status=RoundStatus.CLOSED),
                name="round_issued_has_time",
            ),
        ]
        indexes = [models.Index(fields=["region", "status"], name="round_by_region_status")]

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    """One inspector's task table (排查任务表) in a round, or a sweep of some streets."""

    round = models.ForeignKey(
        Round, on_delete=models.PROTECT, related_name="tasks", verbose_name=_("round")
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="screening_tasks",
        verbose_name=_("inspector"),
    )
    kind = models.CharField(
        _("kind"), max_length=16, choices=TaskKind.choices, default=TaskKind.INSTITUTIONS
    )
    # The community (or street) whose inspectors' pool the task came from; a sweep's place.
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name=_("region")
    )
    instructions = models.TextField(_("instructions"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["round", "inspector", "pk"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["round", "inspector"],
                condition=Q(kind=TaskKind.INSTITUTIONS),
                name="task_one_table_per_inspector_per_round",
            ),
            models.CheckConstraint(
                condition=Q(kind=TaskKind.INSTITUTIONS) | ~Q(instructions=""),
                name="task_sweep_has_instructions",
            ),
        ]
        indexes = [models.Index(fields=["inspector", "round"], name="task_by_inspector")]

    def __str__(self) -> str:
        return f"{self.round} · {self.inspector}"


class TaskItem(models.Model):
    """One institution on a task table; a round lists each institution exactly once."""

    round = models.ForeignKey(
        Round, on_delete=models.PROTECT, related_name="items", verbose_name=_("round")
    )
    task = models.ForeignKey(
        Task, on_delete=models.PROTECT, related_name="items", verbose_name=_("task")
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="task_items",
        verbose_name=_("institution"),
    )
    position = models.PositiveIntegerField(_("order"))
    # The documented risk score (generation.risk_score) and the facts it was computed from.
    risk = models.PositiveIntegerField(_("risk"), default=0)
    open_leads = models.PositiveIntegerField(_("open leads"), default=0)
    past_violations = models.PositiveIntegerField(_("past violations"), default=0)
    days_since_inspection = models.PositiveIntegerField(
        _("days since the last inspection"), null=True, blank=True
    )
    previous_inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("inspector last time"),
    )

    class Meta:
        ordering = ["task", "position", "pk"]
        verbose_name = _("task item")
        verbose_name_plural = _("task items")
        constraints = [
            models.UniqueConstraint(
                fields=["round", "institution"], name="task_item_once_per_round"
            ),
        ]
        indexes = [
            models.Index(fields=["task", "position"], name="task_item_by_task"),
            models.Index(fields=["institution", "round"], name="task_item_by_institution"),
        ]

    def __str__(self) -> str:
        return f"{self.task} · {self.institution_id}"


class Inspection(models.Model):
    """One visit to one institution (任务清单填报): the checklist's answers, photos and position.

    ``client_id`` is made by the phone when the inspector starts: every retry of a save or a
    submission carries it, so a double tap or a lost answer never makes a second inspection.
    """

    client_id = models.UUIDField(_("client id"), unique=True, default=uuid.uuid4)
    task = models.ForeignKey(
        Task, on_delete=models.PROTECT, related_name="inspections", verbose_name=_("task")
    )
    item = models.OneToOneField(
        TaskItem,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inspection",
        verbose_name=_("task item"),
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="inspections",
        verbose_name=_("institution"),
    )
    # The institution was not in the registry: reported as found in the field.
    is_field_find = models.BooleanField(_("found in the field"), default=False)
    # The place whose coordinators review it (the institution's region when it was visited).
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name=_("region")
    )
    checklist = models.ForeignKey(
        ChecklistVersion,
        on_delete=models.PROTECT,
        related_name="inspections",
        verbose_name=_("checklist"),
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="inspections",
        verbose_name=_("inspector"),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=InspectionStatus.choices,
        default=InspectionStatus.DRAFT,
    )
    version = models.PositiveIntegerField(_("version"), default=0)
    # The unsent draft as last saved from the phone: answers, note, outcome.
    draft = models.JSONField(_("draft"), default=dict, blank=True)
    draft_saved_at = models.DateTimeField(_("draft saved"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=VisitOutcome.choices, default=VisitOutcome.VISITED
    )
    visited_at = models.DateTimeField(_("visited"), null=True, blank=True)
    latitude = models.DecimalField(
        _("latitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    accuracy_m = models.PositiveIntegerField(_("accuracy (m)"), null=True, blank=True)
    # Metres from the registered position, when both are known; is_far flags it for the reviewer.
    distance_m = models.PositiveIntegerField(
        _("distance from the address (m)"), null=True, blank=True
    )
    is_far = models.BooleanField(_("far from the registered address"), default=False)
    flag_count = models.PositiveIntegerField(_("flagged answers"), default=0)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    lead = models.OneToOneField(
        Lead,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inspection",
        verbose_name=_("lead"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")
        constraints = [
            models.CheckConstraint(
                condition=Q(status=InspectionStatus.DRAFT, version=0)
                | (
                    ~Q(status=InspectionStatus.DRAFT)
                    & Q(version__gte=1, submitted_at__isnull=False)
                ),
                name="inspection_version_matches_status",
            ),
            models.CheckConstraint(
                condition=~Q(status=InspectionStatus.APPROVED) | Q(approved_at__isnull=False),
                name="inspection_approved_has_time",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="inspection_position_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["region", "status"], name="inspection_by_region_status"),
            models.Index(fields=["status", "visited_at"], name="inspection_by_status_visit"),
            models.Index(fields=["institution", "status"], name="inspection_by_institution"),
        ]

    def __str__(self) -> str:
        return f"{self.institution} · {self.visited_at or self.created_at:%Y-%m-%d}"


class InspectionVersion(models.Model):
    """One submission of an inspection, kept as it was sent; a correction is a new version."""

    inspection = models.ForeignKey(
        Inspection, on_delete=models.PROTECT, related_name="versions", verbose_name=_("inspection")
    )
    number = models.PositiveIntegerField(_("version"))
    # Made by the phone for each submission: a replayed post finds this row instead of adding one.
    submission_id = models.UUIDField(_("submission id"), unique=True)
    answers = models.JSONField(_("answers"), default=dict)
    # The flagged answers: [{"question", "answer", "violation_types", "note", "photos"}].
    flags = models.JSONField(_("flagged answers"), default=list)
    note = models.TextField(_("note"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=VisitOutcome.choices)
    latitude = models.DecimalField(
        _("latitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    accuracy_m = models.PositiveIntegerField(_("accuracy (m)"), null=True, blank=True)
    participant_ids = models.JSONField(_("participants"), default=list)
    photo_ids = models.JSONField(_("photos"), default=list)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    submitted_at = models.DateTimeField(_("submitted"))

    class Meta:
        ordering = ["inspection", "number"]
        verbose_name = _("inspection version")
        verbose_name_plural = _("inspection versions")
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "number"], name="inspection_version_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inspection} v{self.number}"


class InspectionParticipant(models.Model):
    """A person on the visit; each distinct person is one inspector person-time (人次)."""

    inspection = models.ForeignKey(
        Inspection,
        on_delete=models.PROTECT,
        related_name="participants",
        verbose_name=_("inspection"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="inspection_participations",
        verbose_name=_("person"),
    )
    is_active = models.BooleanField(_("took part"), default=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("added by"),
    )
    added_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        ordering = ["inspection", "pk"]
        verbose_name = _("inspection participant")
        verbose_name_plural = _("inspection participants")
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "user"], name="inspection_participant_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inspection_id} · {self.user_id}"


class InspectionPhoto(models.Model):
    """A photo taken on the visit: re-encoded without metadata but its capture time."""

    inspection = models.ForeignKey(
        Inspection, on_delete=models.PROTECT, related_name="photos", verbose_name=_("inspection")
    )
    # The question it is evidence for ("" for a general photo of the visit).
    question = models.CharField(_("question"), max_length=64, blank=True)
    client_id = models.UUIDField(_("client id"), unique=True)
    file = models.FileField(_("file"), upload_to="inspections/%Y/%m/")
    content_type = models.CharField(_("type"), max_length=50)
    size = models.PositiveIntegerField(_("size"))
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    captured_at = models.DateTimeField(_("taken"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    # Taken out of a draft by the inspector; kept, never deleted.
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)

    class Meta:
        ordering = ["inspection", "uploaded_at", "pk"]
        verbose_name = _("inspection photo")
        verbose_name_plural = _("inspection photos")

    def __str__(self) -> str:
        return f"{self.inspection_id} · {self.question or '-'}"


class InspectionReview(models.Model):
    """A coordinator's decision on one submitted version: approved, or returned with a reason."""

    inspection = models.ForeignKey(
        Inspection, on_delete=models.PROTECT, related_name="reviews", verbose_name=_("inspection")
    )
    version = models.ForeignKey(
        InspectionVersion,
        on_delete=models.PROTECT,
        related_name="reviews",
        verbose_name=_("version"),
    )
    decision = models.CharField(_("decision"), max_length=16, choices=ReviewDecision.choices)
    reason = models.TextField(_("reason"), blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    decided_at = models.DateTimeField(_("decided"))

    class Meta:
        ordering = ["inspection", "decided_at", "pk"]
        verbose_name = _("inspection review")
        verbose_name_plural = _("inspection reviews")
        constraints = [
            # A version is decided once.
            models.UniqueConstraint(fields=["version"], name="inspection_review_once_per_version"),
            models.CheckConstraint(
                condition=Q(decision=ReviewDecision.APPROVED) | ~Q(reason=""),
                name="inspection_review_return_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inspection_id} v{self.version_id}: {self.decision}"
