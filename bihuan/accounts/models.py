"""Users, departments, roles and the assignments that give a user a role in a place."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bihuan.core.fields import BlindIndexField, EncryptedTextField
from bihuan.core.masking import mask_phone
from bihuan.territory.models import Area, Region, Sentinel


class Role(models.TextChoices):
    SUPERVISOR = "supervisor", _("bureau supervisor")
    COORDINATOR = "coordinator", _("community coordinator")
    INSPECTOR = "inspector", _("inspector")
    SCHOOL_SENTINEL = "school_sentinel", _("school sentinel")
    OFFICER = "officer", _("department officer")
    AREA_RESPONSIBLE = "area_responsible", _("area responsible party")
    SYSTEM_ADMIN = "system_admin", _("system administrator")
    SECURITY_ADMIN = "security_admin", _("security administrator")
    AUDIT_ADMIN = "audit_admin", _("audit administrator")


# The three administrators (三员) are kept apart: one person holds at most one of them.
ADMIN_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
# Roles whose scope is a place (the subtree of the assignment's region).
PLACE_ROLES = frozenset(
    {
        Role.SUPERVISOR,
        Role.COORDINATOR,
        Role.INSPECTOR,
        Role.SCHOOL_SENTINEL,
        Role.OFFICER,
        Role.AREA_RESPONSIBLE,
    }
)


class DepartmentKind(models.TextChoices):
    EDUCATION = "education", _("education bureau")
    MARKET = "market", _("market regulation")
    CULTURE_TOURISM = "culture_tourism", _("culture and tourism")
    SCIENCE_TECH = "science_tech", _("science and technology")
    PUBLIC_SECURITY = "public_security", _("public security")
    DEVELOPMENT_REFORM = "development_reform", _("development and reform")
    URBAN_MANAGEMENT = "urban_management", _("urban management")
    FIRE_RESCUE = "fire_rescue", _("fire and rescue")
    CENTRAL_BANK = "central_bank", _("central bank branch")


class Department(models.Model):
    """A linked department (职能部门) with the region it has jurisdiction over."""

    kind = models.CharField(_("kind"), max_length=32, choices=DepartmentKind.choices)
    name = models.CharField(_("name"), max_length=100)
    short_name = models.CharField(_("short name"), max_length=20)
    jurisdiction = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="departments", verbose_name=_("jurisdiction")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["jurisdiction__path", "kind"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "jurisdiction"], name="department_one_kind_per_jurisdiction"
            )
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who signs in; what they may see comes from their assignments."""

    display_name = models.CharField(_("full name"), max_length=50, blank=True)
    # Encrypted at rest; phone_hash finds a user by the whole number.
    phone = EncryptedTextField(_("phone"), max_length=20, blank=True)
    phone_hash = BlindIndexField(source="phone", kind="phone")
    must_change_password = models.BooleanField(_("must change password"), default=True)
    password_changed_at = models.DateTimeField(_("password changed"), null=True, blank=True)
    failed_logins = models.PositiveSmallIntegerField(_("failed logins"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    # Demo accounts keep their printed password in demo mode (BIHUAN_DEMO).
    is_demo = models.BooleanField(_("demo account"), default=False)
    is_synthetic = models.BooleanField(_("synthetic"), default=False)

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone) if self.phone else ""

    @property
    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()


class Assignment(models.Model):
    """A role held by a user in a region (and, for some roles, a department, sentinel or area)."""

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("region")
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assignments",
        verbose_name=_("department"),
    )
    sentinel = models.ForeignKey(
        Sentinel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assignments",
        verbose_name=_("sentinel"),
    )
    area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assignments",
        verbose_name=_("area"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["user", "role"]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="officer") | Q(department__isnull=False),
                name="assignment_officer_has_department",
            ),
            models.CheckConstraint(
                condition=~Q(role="school_sentinel") | Q(sentinel__isnull=False),
                name="assignment_school_sentinel_has_sentinel",
            ),
            models.CheckConstraint(
                condition=~Q(role="area_responsible") | Q(area__isnull=False),
                name="assignment_area_responsible_has_area",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "region"],
                condition=Q(is_active=True),
                name="assignment_unique_active_role_in_region",
            ),
            # 三员分立 in the database: at most one active administrator role per person.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(
                    is_active=True, role__in=["system_admin", "security_admin", "audit_admin"]
                ),
                name="assignment_one_admin_role_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "is_active"], name="assignment_active_for_user"),
            models.Index(fields=["region", "role"], name="assignment_people_of_region"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.region}"


class SessionEnd(models.TextChoices):
    SIGNED_OUT = "signed_out", _("signed out")
    IDLE = "idle", _("idle timeout")
    ENDED = "ended", _("ended from another session")
    FORCED = "forced", _("ended by a security administrator")
    EXPIRED = "expired", _("expired")


class UserSession(models.Model):
    """One signed-in browser session, kept on record after it ends (等保: session management)."""

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="sessions", verbose_name=_("user")
    )
    # SHA-256 of the session key: enough to find the session, useless for taking it over.
    key_hash = models.CharField(_("session key hash"), max_length=64)
    created_at = models.DateTimeField(_("signed in"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"))
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=100, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_reason = models.CharField(
        _("how it ended"), max_length=16, choices=SessionEnd.choices, blank=True
    )
    ended_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ended by"),
    )

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        constraints = [
            models.UniqueConstraint(
                fields=["key_hash"],
                condition=Q(ended_at__isnull=True),
                name="usersession_one_open_row_per_key",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True, ended_reason="")
                | (Q(ended_at__isnull=False) & ~Q(ended_reason="")),
                name="usersession_ended_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "ended_at"], name="usersession_open_of_user"),
            models.Index(fields=["key_hash"], name="usersession_by_key"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.ip or '-'} · {self.user_agent or '-'}"


class PasswordHistory(models.Model):
    """The hash of a password a user has had, so that a recent one is not chosen again (等保)."""

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="password_history", verbose_name=_("user")
    )
    password = models.CharField(_("password hash"), max_length=128)
    created_at = models.DateTimeField(_("set at"), default=timezone.now)

    class Meta:
        ordering = ["user", "-created_at", "-pk"]
        verbose_name = _("previous password")
        verbose_name_plural = _("previous passwords")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="passwordhistory_recent_of_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.created_at:%Y-%m-%d}"


class ScopeStamp(models.Model):
    """A counter the database bumps whenever a user's scope may have changed.

    Written only by the triggers of ``bihuan.accounts.scope_triggers`` (an assignment added,
    changed or removed; a region's path changed), never by the application, so a save of a stale
    object cannot turn it back. A process may keep a user's scope as long as the stamp it read
    with the user is the one the scope was worked out under.
    """

    user_id = models.BigIntegerField(primary_key=True)
    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("scope stamp")
        verbose_name_plural = _("scope stamps")

    def __str__(self) -> str:
        return f"{self.user_id}@{self.version}"
