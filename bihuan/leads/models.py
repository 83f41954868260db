"""The violation taxonomy, routing rules, leads, work orders and joint operations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bihuan.accounts.models import Department, DepartmentKind
from bihuan.core.fields import BlindIndexField, EncryptedTextField
from bihuan.core.masking import mask_phone
from bihuan.leads.workflow import (
    LEAD_OPEN,
    ORDER_LIVE,
    ORDER_OPEN,
    ClosureReason,
    ExtensionStatus,
    JointStatus,
    LeadSource,
    LeadStatus,
    OrderRole,
    OrderStatus,
    ReminderKind,
)
from bihuan.registry.models import Category, Institution
from bihuan.territory.models import Area, Region, Sentinel

# The department that licenses the institution's category (行业主管部门), resolved at routing time.
COMPETENT = "competent"
DEPARTMENT_CHOICES = [
    (COMPETENT, _("competent department for the licence category")),
    *DepartmentKind.choices,
]


class Severity(models.IntegerChoices):
    LOW = 1, _("low")
    MEDIUM = 2, _("medium")
    HIGH = 3, _("high")


class ViolationGroup(models.Model):
    """A group of violation types (资质, 隐形变异, …) with its deadlines in working days."""

    code = models.CharField(_("code"), max_length=4, unique=True)
    name = models.CharField(_("name"), max_length=50)
    sign_days = models.PositiveSmallIntegerField(_("working days to sign"), default=1)
    reply_days = models.PositiveSmallIntegerField(_("working days to reply"), default=7)

    class Meta:
        ordering = ["code"]
        verbose_name = _("violation group")
        verbose_name_plural = _("violation groups")
        constraints = [
            models.CheckConstraint(
                condition=Q(sign_days__gte=1, reply_days__gte=1),
                name="violation_group_deadlines_positive",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ViolationType(models.Model):
    """One taxonomy entry: the violation, its legal basis, and who acts on it by default."""

    code = models.CharField(_("code"), max_length=8, unique=True)
    name = models.CharField(_("name"), max_length=200)
    group = models.ForeignKey(
        ViolationGroup, on_delete=models.PROTECT, related_name="types", verbose_name=_("group")
    )
    legal_basis = models.TextField(_("legal basis"), blank=True)
    lead_kind = models.CharField(
        _("default lead department"), max_length=32, choices=DEPARTMENT_CHOICES
    )
    assisting_kinds = models.JSONField(_("default assisting departments"), default=list, blank=True)
    severity = models.PositiveSmallIntegerField(
        _("severity"), choices=Severity.choices, default=Severity.MEDIUM
    )
    is_disguised = models.BooleanField(_("disguised subject tutoring (隐形变异)"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("violation type")
        verbose_name_plural = _("violation types")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class RoutingRule(models.Model):
    """Violation type (× licence category, × region subtree) → lead and assisting departments."""

    violation_type = models.ForeignKey(
        ViolationType,
        on_delete=models.PROTECT,
        related_name="rules",
        verbose_name=_("violation type"),
    )
    # Empty: any licence category.
    category = models.CharField(
        _("licence category"), max_length=16, choices=Category.choices, blank=True
    )
    # Null: everywhere; otherwise the rule overrides the others inside this region's subtree.
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="routing_rules",
        verbose_name=_("region"),
    )
    lead_kind = models.CharField(_("lead department"), max_length=32, choices=DEPARTMENT_CHOICES)
    assisting_kinds = models.JSONField(_("assisting departments"), default=list, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["violation_type__code", "category", "region__path"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        constraints = [
            models.UniqueConstraint(
                fields=["violation_type", "category", "region"],
                condition=Q(is_active=True, region__isnull=False),
                name="routing_rule_unique_active_in_region",
            ),
            models.UniqueConstraint(
                fields=["violation_type", "category"],
                condition=Q(is_active=True, region__isnull=True),
                name="routing_rule_unique_active_everywhere",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.violation_type.code} {self.category or '*'} → {self.lead_kind}"


class Lead(models.Model):
    """A suspected problem (线索), owned by a department with a deadline until it is closed."""

    reference = models.CharField(_("reference"), max_length=20, unique=True)
    source = models.CharField(_("source"), max_length=16, choices=LeadSource.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW
    )
    description = models.TextField(_("description"))
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("institution"),
    )
    # An unknown place: what the reporter said, until the bureau links a registry record.
    place_name = models.CharField(_("place name"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    latitude = models.DecimalField(
        _("latitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="leads", verbose_name=_("region")
    )
    area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("area"),
    )
    sentinel = models.ForeignKey(
        Sentinel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("sentinel"),
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reported_leads",
        verbose_name=_("reporter"),
    )
    # A tip's reporter: kept for the bureau, never shown to a department.
    reporter_name = models.CharField(_("reporter's name"), max_length=50, blank=True)
    reporter_phone = EncryptedTextField(_("reporter's phone"), max_length=20, blank=True)
    reporter_phone_hash = BlindIndexField(source="reporter_phone", kind="phone")
    is_anonymous = models.BooleanField(_("anonymous"), default=False)
    violation_types = models.ManyToManyField(
        ViolationType, blank=True, related_name="leads", verbose_name=_("violation types")
    )
    owner_department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="owned_leads",
        verbose_name=_("owner"),
    )
    due_at = models.DateTimeField(_("deadline"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_from",
        verbose_name=_("merged into"),
    )
    dismiss_reason = models.CharField(_("reason for dismissal"), max_length=500, blank=True)
    closure_reason = models.CharField(
        _("closure reason"), max_length=20, choices=ClosureReason.choices, blank=True
    )
    closure_note = models.CharField(_("closure note"), max_length=500, blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    # Why the lead went where it went: the routing decision, kept as it was made.
    routing = models.JSONField(_("routing"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    is_synthetic = models.BooleanField(_("synthetic"), default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=sorted(LEAD_OPEN))
                | Q(owner_department__isnull=False, due_at__isnull=False),
                name="lead_open_has_owner_and_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(status=LeadStatus.MERGED) | Q(merged_into__isnull=False),
                name="lead_merged_names_survivor",
            ),
            models.CheckConstraint(
                condition=~Q(status=LeadStatus.DISMISSED) | ~Q(dismiss_reason=""),
                name="lead_dismissed_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=LeadStatus.CLOSED) | ~Q(closure_reason=""),
                name="lead_closed_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(institution__isnull=False) | ~Q(place_name="", address=""),
                name="lead_names_institution_or_place",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("pk")), name="lead_not_merged_into_itself"
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(
                    latitude__isnull=False,
                    longitude__isnull=False,
                    latitude__gte=-90,
                    latitude__lte=90,
                    longitude__gte=-180,
                    longitude__lte=180,
                ),
                name="lead_coordinates_complete_and_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="lead_queue_by_status"),
            models.Index(fields=["region", "status"], name="lead_by_region_status"),
            models.Index(fields=["status", "due_at"], name="lead_overdue_scan"),
            models.Index(fields=["institution", "created_at"], name="lead_by_institution"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in LEAD_OPEN

    @property
    def place_label(self) -> str:
        if self.institution is not None:
            return self.institution.name
        return self.place_name or self.address

    @property
    def masked_reporter_phone(self) -> str:
        return mask_phone(self.reporter_phone) if self.reporter_phone else ""


class Attachment(models.Model):
    """An evidence file of a lead, or of a department's reply to its work order."""

    lead = models.ForeignKey(
        Lead, on_delete=models.PROTECT, related_name="attachments", verbose_name=_("lead")
    )
    work_order = models.ForeignKey(
        "WorkOrder",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="attachments",
        verbose_name=_("work order"),
    )
    file = models.FileField(_("file"), upload_to="evidence/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("type"), max_length=100)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.original_name


class WorkOrder(models.Model):
    """One department's share of a lead (派单), with its own clock."""

    lead = models.ForeignKey(
        Lead, on_delete=models.PROTECT, related_name="work_orders", verbose_name=_("lead")
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        related_name="work_orders",
        verbose_name=_("department"),
    )
    role = models.CharField(_("role"), max_length=8, choices=OrderRole.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.AWAITING
    )
    # Why this department: the rule or default that chose it, as the routing explained it.
    reason = models.CharField(_("why this department"), max_length=300, blank=True)
    sign_due = models.DateTimeField(_("sign by"))
    reply_due = models.DateTimeField(_("reply by"), null=True, blank=True)
    signed_at = models.DateTimeField(_("signed"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("signed by"),
    )
    replied_at = models.DateTimeField(_("replied"), null=True, blank=True)
    reply = models.TextField(_("reply"), blank=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    redo_count = models.PositiveSmallIntegerField(_("redos"), default=0)
    redo_reason = models.CharField(_("reason for redo"), max_length=500, blank=True)
    # A return (退单) must name the department the officer believes responsible, and why.
    proposed_department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department proposed instead"),
    )
    return_reason = models.CharField(_("reason for return"), max_length=500, blank=True)
    status_before_return = models.CharField(max_length=20, blank=True)
    return_requested_at = models.DateTimeField(_("return requested"), null=True, blank=True)
    reassigned_to = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reassigned_from",
        verbose_name=_("reassigned to"),
    )
    urge_count = models.PositiveSmallIntegerField(_("urged"), default=0)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    is_supervised = models.BooleanField(_("under supervision (督办)"), default=False)
    # The deadline last urged / escalated by the clock: the overdue scan claims an order by
    # moving these with a conditional update.
    urged_for = models.DateTimeField(null=True, blank=True, editable=False)
    escalated_for = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("dispatched"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    is_synthetic = models.BooleanField(_("synthetic"), default=False)

    class Meta:
        ordering = ["lead", "role", "pk"]
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        constraints = [
            # A department holds at most one live share of a lead.
            models.UniqueConstraint(
                fields=["lead", "department"],
                condition=Q(status__in=sorted(ORDER_LIVE)),
                name="work_order_one_live_per_department",
            ),
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(role=OrderRole.LEAD, status__in=sorted(ORDER_LIVE)),
                name="work_order_one_live_lead_department",
            ),
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.RETURN_REQUESTED)
                | (Q(proposed_department__isnull=False) & ~Q(return_reason="")),
                name="work_order_return_names_department_and_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[OrderStatus.SIGNED, OrderStatus.REPLIED])
                | Q(signed_at__isnull=False, reply_due__isnull=False),
                name="work_order_signed_has_reply_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.REPLIED) | ~Q(reply=""),
                name="work_order_replied_has_reply",
            ),
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.REASSIGNED) | Q(reassigned_to__isnull=False),
                name="work_order_reassigned_names_successor",
            ),
        ]
        indexes = [
            models.Index(fields=["department", "status"], name="work_order_inbox"),
            models.Index(
                fields=["sign_due"],
                condition=Q(status=OrderStatus.AWAITING),
                name="work_order_sign_overdue",
            ),
            models.Index(
                fields=["reply_due"],
                condition=Q(status=OrderStatus.SIGNED),
                name="work_order_reply_overdue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead.reference}·{self.department.short_name}"

    @property
    def is_open(self) -> bool:
        return self.status in ORDER_OPEN

    @property
    def current_due(self):  # type: ignore[no-untyped-def]
        """The deadline the department is working against now (None once replied)."""
        if self.status == OrderStatus.AWAITING:
            return self.sign_due
        if self.status == OrderStatus.SIGNED:
            return self.reply_due
        return None


class ExtensionRequest(models.Model):
    """A department's request for more time to reply (延期), decided by the bureau."""

    work_order = models.ForeignKey(
        WorkOrder, on_delete=models.PROTECT, related_name="extensions", verbose_name=_("work order")
    )
    days = models.PositiveSmallIntegerField(_("working days asked"))
    reason = models.CharField(_("reason"), max_length=500)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ExtensionStatus.choices,
        default=ExtensionStatus.PENDING,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=500, blank=True)
    previous_due = models.DateTimeField(_("deadline before"), null=True, blank=True)
    new_due = models.DateTimeField(_("deadline after"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("extension request")
        verbose_name_plural = _("extension requests")
        constraints = [
            models.UniqueConstraint(
                fields=["work_order"],
                condition=Q(status=ExtensionStatus.PENDING),
                name="extension_one_pending_per_order",
            ),
            models.CheckConstraint(
                condition=Q(days__gte=1, days__lte=30), name="extension_days_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.work_order} +{self.days}"


class Reminder(models.Model):
    """An urge (催办), supervision (督办) or escalation of a work order, by a person or clock."""

    work_order = models.ForeignKey(
        WorkOrder, on_delete=models.PROTECT, related_name="reminders", verbose_name=_("work order")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ReminderKind.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    # For the clock's reminders: which deadline they are about, so each is sent once.
    due_key = models.CharField(max_length=40, blank=True)
    at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        constraints = [
            models.UniqueConstraint(
                fields=["work_order", "kind", "due_key"],
                condition=~Q(due_key=""),
                name="reminder_once_per_deadline",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.work_order}"


class JointOperation(models.Model):
    """Several departments acting together on one or more leads (联合行动)."""

    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=JointStatus.choices, default=JointStatus.PROPOSED
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="joint_operations", verbose_name=_("region")
    )
    leads = models.ManyToManyField(Lead, related_name="joint_operations", verbose_name=_("leads"))
    # Why the rules proposed it (codes: departments, unlicensed, repeat, severity).
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    departments = models.ManyToManyField(
        Department, blank=True, related_name="joint_operations", verbose_name=_("departments")
    )
    planned_for = models.DateField(_("date"), null=True, blank=True)
    decline_reason = models.CharField(_("reason declined"), max_length=500, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    created_at = models.DateTimeField(_("proposed"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("joint operation")
        verbose_name_plural = _("joint operations")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=JointStatus.DECLINED) | ~Q(decline_reason=""),
                name="joint_declined_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[JointStatus.CONFIRMED, JointStatus.RECORDED])
                | Q(planned_for__isnull=False),
                name="joint_confirmed_has_date",
            ),
        ]
        indexes = [models.Index(fields=["status", "planned_for"], name="joint_by_status_date")]

    def __str__(self) -> str:
        return self.title


class JointParticipant(models.Model):
    """One person on a joint operation's team; each counts as an inspector person-time."""

    operation = models.ForeignKey(
        JointOperation,
        on_delete=models.PROTECT,
        related_name="participants",
        verbose_name=_("joint operation"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    # People without an account (officers of a department not on Bihuan yet) are named.
    name = models.CharField(_("name"), max_length=50)
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    took_part = models.BooleanField(_("took part"), default=True)

    class Meta:
        ordering = ["operation", "pk"]
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "user"],
                condition=Q(user__isnull=False),
                name="joint_participant_user_once",
            ),
            models.UniqueConstraint(
                fields=["operation", "name", "department"],
                condition=Q(user__isnull=True, department__isnull=False),
                name="joint_participant_named_once",
            ),
        ]

    def __str__(self) -> str:
        return self.name
