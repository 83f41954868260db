"""The registry of off-campus tutoring institutions, their courses, boundaries and imports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bihuan.core.fields import BlindIndexField, EncryptedTextField
from bihuan.core.masking import mask_phone
from bihuan.core.models import ImportRecord, ImportStatus, RowImportRecord
from bihuan.territory.models import Area, Region


class Category(models.TextChoices):
    """Licence category (学科类 / 非学科类 kinds); NONE for places with no licence."""

    SUBJECT = "subject", _("subject tutoring")
    ARTS = "arts", _("arts")
    SPORTS = "sports", _("sports")
    SCIENCE_TECH = "science_tech", _("science and technology")
    OTHER = "other", _("other non-subject")
    NONE = "none", _("no licence")


class Status(models.TextChoices):
    REGISTERED = "registered", _("registered")
    PENDING = "pending", _("found in the field, pending approval")
    SUSPENDED = "suspended", _("suspended")
    CLOSED = "closed", _("closed")


class Datum(models.TextChoices):
    """Coordinate reference of a position as it was received."""

    WGS84 = "wgs84", _("WGS-84 (GPS, phones)")
    GCJ02 = "gcj02", _("GCJ-02 (Chinese map services)")


class Source(models.TextChoices):
    IMPORT = "import", _("import")
    FIELD = "field", _("found in the field")
    MANUAL = "manual", _("entered by hand")
    GENERATED = "generated", _("generated")


class Institution(models.Model):
    """An off-campus tutoring institution, registered or found in the field.

    Coordinates are stored in WGS-84 (what Leaflet and phones use); ``source_datum`` says in which
    datum they arrived, so a GCJ-02 position from a Chinese map service is converted once, on entry.
    """

    name = models.CharField(_("name"), max_length=200)
    # Simplified, half-width, without spaces or punctuation: what the matcher and search compare.
    name_normalized = models.CharField(_("normalised name"), max_length=200, db_index=True)
    name_pinyin = models.CharField(_("pinyin"), max_length=600, blank=True)
    name_initials = models.CharField(_("pinyin initials"), max_length=200, blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    licence_number = models.CharField(_("school-running licence number"), max_length=64, blank=True)
    category = models.CharField(
        _("licence category"), max_length=16, choices=Category.choices, default=Category.NONE
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.REGISTERED
    )
    is_blacklisted = models.BooleanField(_("blacklisted"), default=False)
    blacklist_reason = models.CharField(_("blacklist reason"), max_length=500, blank=True)
    operator_name = models.CharField(_("operator"), max_length=100, blank=True)
    contact_phone = EncryptedTextField(_("contact phone"), max_length=20, blank=True)
    contact_phone_hash = BlindIndexField(source="contact_phone", kind="phone")
    address = models.CharField(_("address"), max_length=300, blank=True)
    latitude = models.DecimalField(
        _("latitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude (WGS-84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    source_datum = models.CharField(
        _("datum received"), max_length=8, choices=Datum.choices, blank=True
    )
    # The lowest region known for the institution: its community once placed. Decides scope.
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="institutions", verbose_name=_("region")
    )
    community = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="community_institutions",
        verbose_name=_("community"),
    )
    area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="institutions",
        verbose_name=_("area"),
    )
    has_custody_account = models.BooleanField(
        _("prepaid fees in a supervised account"), default=False
    )
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_from",
        verbose_name=_("merged into"),
    )
    is_synthetic = models.BooleanField(_("synthetic"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name_normalized", "pk"]
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        constraints = [
            # Keys of the idempotent import: unique among records that were not merged away.
            models.UniqueConstraint(
                fields=["credit_code"],
                condition=~Q(credit_code="") & Q(merged_into__isnull=True),
                name="institution_unique_credit_code",
            ),
            models.UniqueConstraint(
                fields=["licence_number"],
                condition=~Q(licence_number="") & Q(merged_into__isnull=True),
                name="institution_unique_licence_number",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(
                    # NOT NULL on both: a CHECK that evaluates to NULL passes, so a latitude with
                    # no longitude would slip through a bare range test.
                    latitude__isnull=False,
                    longitude__isnull=False,
                    latitude__gte=-90,
                    latitude__lte=90,
                    longitude__gte=-180,
                    longitude__lte=180,
                ),
                name="institution_coordinates_complete_and_valid",
            ),
            models.CheckConstraint(
                condition=Q(is_blacklisted=False) | ~Q(blacklist_reason=""),
                name="institution_blacklist_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("pk")), name="institution_not_merged_into_itself"
            ),
        ]
        indexes = [
            models.Index(fields=["region", "status"], name="institution_by_region_status"),
            models.Index(fields=["community"], name="institution_by_community"),
            models.Index(fields=["name_initials"], name="institution_by_initials"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.contact_phone) if self.contact_phone else ""

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None


class CourseOffering(models.Model):
    """A course an institution offers; subject courses are what disguised tutoring hides."""

    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="courses", verbose_name=_("institution")
    )
    name = models.CharField(_("course"), max_length=200)
    is_subject = models.BooleanField(_("subject course"), default=False)
    age_min = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    age_max = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["institution", "name"]
        verbose_name = _("course offering")
        verbose_name_plural = _("course offerings")
        constraints = [
            models.CheckConstraint(
                condition=Q(age_min__isnull=True)
                | Q(age_max__isnull=True)
                | Q(age_min__lte=models.F("age_max")),
                name="course_age_range_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Boundary(models.Model):
    """The outline of a community (GeoJSON geometry in WGS-84), used to place institutions."""

    region = models.OneToOneField(
        Region, on_delete=models.PROTECT, related_name="boundary", verbose_name=_("region")
    )
    geometry = models.JSONField(_("geometry"))
    # Bounding box, so that point-in-polygon only tests the few outlines that can contain a point.
    min_lat = models.FloatField()
    max_lat = models.FloatField()
    min_lng = models.FloatField()
    max_lng = models.FloatField()
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("boundary")
        verbose_name_plural = _("boundaries")
        indexes = [
            models.Index(fields=["min_lat", "max_lat", "min_lng", "max_lng"], name="boundary_bbox")
        ]

    def __str__(self) -> str:
        return str(self.region)


class MatchStatus(models.TextChoices):
    PENDING = "pending", _("waiting for review")
    CONFIRMED = "confirmed", _("confirmed as the same")
    REJECTED = "rejected", _("different institutions")


class MatchCandidate(models.Model):
    """A pair the matcher could not decide: the review queue of possible duplicates."""

    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("institution")
    )
    candidate = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("possible duplicate"),
    )
    score = models.FloatField(_("score"))
    reasons = models.JSONField(_("reasons"), default=dict)
    status = models.CharField(
        _("status"), max_length=16, choices=MatchStatus.choices, default=MatchStatus.PENDING
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["-score", "pk"]
        verbose_name = _("possible duplicate")
        verbose_name_plural = _("possible duplicates")
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "candidate"], name="match_candidate_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(institution__lt=models.F("candidate")),
                name="match_candidate_ordered_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.institution} ≈ {self.candidate}"


class InstitutionImport(RowImportRecord):
    """An uploaded registry file, kept with its dry-run report and the outcome of applying it."""

    # Where rows without a division code are placed, and the scope the import may write to.
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name=_("region")
    )
    file = models.FileField(_("file"), upload_to="imports/institutions/%Y/%m/")
    # Counts of the dry run (create / update / match / error) and of the applied import.
    summary = models.JSONField(_("summary"), default=dict)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("institution import")
        verbose_name_plural = _("institution imports")


class ImportRow(models.Model):
    """One row of an import as checked: kept apart from the import so big files stay streamable."""

    class Action(models.TextChoices):
        CREATE = "create", _("will be created")
        UPDATE = "update", _("will be updated")
        MATCH = "match", _("matches an existing institution")
        REVIEW = "review", _("possible duplicate, created and sent to review")
        UNCHANGED = "unchanged", _("unchanged")
        ERROR = "error", _("error")

    batch = models.ForeignKey(
        InstitutionImport, on_delete=models.PROTECT, related_name="rows", verbose_name=_("import")
    )
    line = models.PositiveIntegerField(_("line"))
    action = models.CharField(_("result"), max_length=16, choices=Action.choices)
    errors = models.JSONField(_("errors"), default=list)
    data = models.JSONField(_("data"), default=dict)
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("institution"),
    )

    class Meta:
        ordering = ["batch", "line"]
        verbose_name = _("import row")
        verbose_name_plural = _("import rows")
        constraints = [
            models.UniqueConstraint(fields=["batch", "line"], name="import_row_unique_line")
        ]
        indexes = [models.Index(fields=["batch", "action"], name="import_row_by_action")]

    def __str__(self) -> str:
        return f"{self.batch} #{self.line}"


class BoundaryImport(ImportRecord):
    """An uploaded GeoJSON of community outlines, with what it changed and which institutions moved.

    ``features`` has one entry per feature (code, name, action, and why an outline was repaired);
    ``moved`` one per institution whose community changed: institution id, name, from and to codes.
    """

    file = models.FileField(_("file"), upload_to="imports/boundaries/%Y/%m/")
    datum = models.CharField(
        _("datum received"), max_length=8, choices=Datum.choices, default=Datum.WGS84
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    features = models.JSONField(_("features"), default=list)
    # created / updated / unchanged / repaired outlines, institutions re-placed and moved; error.
    counts = models.JSONField(_("counts"), default=dict)
    moved = models.JSONField(_("institutions moved"), default=list)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("boundary import")
        verbose_name_plural = _("boundary imports")
