"""The territory tree (city → district → street → community), areas and sentinels."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bihuan.core.fields import BlindIndexField, EncryptedTextField
from bihuan.core.masking import mask_phone
from bihuan.core.models import ImportStatus as ImportStatus  # re-exported for older imports
from bihuan.core.models import RowImportRecord
from bihuan.territory import codes


class Level(models.TextChoices):
    PROVINCE = codes.PROVINCE, _("province")
    CITY = codes.CITY, _("city")
    DISTRICT = codes.DISTRICT, _("district")
    STREET = codes.STREET, _("street")
    COMMUNITY = codes.COMMUNITY, _("community")


class Region(models.Model):
    """A node of the territory tree, keyed by its official division code.

    ``path`` is the chain of codes from the root, each followed by "/", so that a subtree is one
    indexed prefix match (``path__startswith``) on both SQLite and PostgreSQL.
    """

    code = models.CharField(_("division code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=16, choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    path = models.CharField(max_length=255, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(editable=False)
    # Marks names or codes invented for the demo or the generator, never official data.
    is_synthetic = models.BooleanField(_("synthetic"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        constraints = [
            models.CheckConstraint(
                condition=Q(level__in=["province", "city", "district"], code__regex=r"^[0-9]{6}$")
                | Q(level__in=["street", "community"], code__regex=r"^[0-9]{12}$"),
                name="region_code_fits_level",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True) | ~Q(level="province"),
                name="region_province_has_no_parent",
            ),
        ]
        indexes = [
            models.Index(fields=["parent", "name"], name="region_children_by_name"),
            # Subtree filters are prefix LIKEs on path; PostgreSQL needs the pattern operator
            # class to use an index for them under a non-C collation (SQLite ignores it).
            models.Index(
                fields=["path"], name="region_subtree_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def subtree_q(self, field: str = "") -> Q:
        """Q matching this region and everything below it, through ``field`` (a Region FK path)."""
        prefix = f"{field}__" if field else ""
        return Q(**{f"{prefix}path__startswith": self.path})

    def ancestors(self) -> list[Region]:
        """The chain from the root down to the parent, in one query."""
        codes_above = [part for part in self.path.split("/") if part][:-1]
        found = {r.code: r for r in Region.objects.filter(code__in=codes_above)}
        return [found[c] for c in codes_above if c in found]


class ResponsiblePartyKind(models.Model):
    """A kind of named responsible party (bureau official, street cadre, school head, …)."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=50)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("responsible party kind")
        verbose_name_plural = _("responsible party kinds")

    def __str__(self) -> str:
        return self.name


class Area(models.Model):
    """An area of responsibility (片区) on a school district, grouping communities and schools."""

    name = models.CharField(_("name"), max_length=100)
    school_district = models.CharField(_("school district"), max_length=100, blank=True)
    # The lowest region that contains every community of the area: it decides who sees the area.
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="areas", verbose_name=_("region")
    )
    communities = models.ManyToManyField(
        Region, related_name="community_areas", blank=True, verbose_name=_("communities")
    )
    is_synthetic = models.BooleanField(_("synthetic"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["region__path", "name"]
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        constraints = [
            models.UniqueConstraint(fields=["region", "name"], name="area_unique_name_in_region")
        ]

    def __str__(self) -> str:
        return self.name


class AreaResponsible(models.Model):
    """A named responsible party of an area (包保责任人)."""

    area = models.ForeignKey(
        Area, on_delete=models.PROTECT, related_name="responsibles", verbose_name=_("area")
    )
    kind = models.ForeignKey(
        ResponsiblePartyKind, on_delete=models.PROTECT, related_name="+", verbose_name=_("kind")
    )
    name = models.CharField(_("full name"), max_length=50)
    title = models.CharField(_("position"), max_length=100, blank=True)
    phone = EncryptedTextField(_("phone"), max_length=20, blank=True)
    phone_hash = BlindIndexField(source="phone", kind="phone")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="area_responsibilities",
        verbose_name=_("account"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["area", "kind__sort_order", "name"]
        verbose_name = _("area responsible party")
        verbose_name_plural = _("area responsible parties")

    def __str__(self) -> str:
        return f"{self.kind}: {self.name}"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone) if self.phone else ""


class SentinelKind(models.TextChoices):
    COMMUNITY = "community", _("community")
    SCHOOL = "school", _("school")


class Sentinel(models.Model):
    """A community or a school that watches its area (哨点)."""

    kind = models.CharField(_("kind"), max_length=16, choices=SentinelKind.choices)
    name = models.CharField(_("name"), max_length=100)
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="sentinels",
        verbose_name=_("community"),
        help_text=_("The community the sentinel is in (for a community sentinel, itself)."),
    )
    area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sentinels",
        verbose_name=_("area"),
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    is_synthetic = models.BooleanField(_("synthetic"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["region__path", "kind", "name"]
        verbose_name = _("sentinel")
        verbose_name_plural = _("sentinels")
        constraints = [
            models.UniqueConstraint(
                fields=["region", "kind", "name"], name="sentinel_unique_name_in_region"
            ),
            models.UniqueConstraint(
                fields=["region"],
                condition=Q(kind="community"),
                name="sentinel_one_per_community",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RegionImport(RowImportRecord):
    """An uploaded region file, kept with its dry-run report and the outcome of applying it."""

    file = models.FileField(_("file"), upload_to="imports/regions/%Y/%m/")
    # One entry per data row: line, code, name, action (create/update/unchanged/error), error.
    report = models.JSONField(_("report"), default=list)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("region import")
        verbose_name_plural = _("region imports")
