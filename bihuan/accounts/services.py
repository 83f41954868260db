"""Writes to accounts: users, assignments, departments, and the login itself."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.allowlist import admin_network_refused, refusal_message
from bihuan.accounts.lockout import login_failure_record
from bihuan.accounts.models import (
    ADMIN_ROLES,
    Assignment,
    Department,
    Role,
    User,
)
from bihuan.accounts.otp import has_second_factor
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import forget_scope
from bihuan.audit.services import event_record, snapshot
from bihuan.core.context import current_ip
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.territory.models import Area, Level, Region, Sentinel

_USER_FIELDS = ["username", "display_name", "phone", "is_active", "must_change_password"]
_ASSIGNMENT_FIELDS = ["user", "role", "region", "department", "sentinel", "area", "is_active"]
_DEPARTMENT_FIELDS = ["kind", "name", "short_name", "jurisdiction", "is_active"]

# Levels at which each place role is normally held; a grant elsewhere is refused.
ROLE_LEVELS: dict[str, set[str]] = {
    Role.SUPERVISOR: {Level.PROVINCE, Level.CITY, Level.DISTRICT},
    Role.COORDINATOR: {Level.STREET, Level.COMMUNITY},
    Role.INSPECTOR: {Level.COMMUNITY, Level.STREET},
    Role.SCHOOL_SENTINEL: {Level.COMMUNITY},
    Role.OFFICER: {Level.PROVINCE, Level.CITY, Level.DISTRICT, Level.STREET},
    Role.AREA_RESPONSIBLE: {Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY},
    Role.SYSTEM_ADMIN: set(Level.values),
    Role.SECURITY_ADMIN: set(Level.values),
    Role.AUDIT_ADMIN: set(Level.values),
}


def _require(actor: Any, capability: Capability) -> None:
    if actor is not None and not can(actor, capability):
        raise NotAllowed(_("Your roles do not allow this change."))


def _refuse_admin_target(actor: Any, user: User) -> None:
    # 三员: the system administrator must not take over the security or audit administrator's
    # account (reset its password, then sign in as them). Administrators' accounts are handled
    # on the server console (manage.py changepassword), outside any one administrator's reach.
    if actor is not None and user.assignments.filter(is_active=True, role__in=ADMIN_ROLES).exists():
        raise NotAllowed(
            _(
                "Administrators' accounts are not changed from this page: use the server "
                "console (manage.py changepassword)."
            )
        )


def _check_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), field="password") from None


def _check_phone(phone: str) -> None:
    if phone and (not phone.isdigit() or not 7 <= len(phone) <= 20):
        raise ServiceError(_("A phone number has 7 to 20 digits."), field="phone")


@transaction.atomic
def user_create(
    *,
    actor: Any,
    username: str,
    password: str,
    display_name: str = "",
    phone: str = "",
    is_demo: bool = False,
    is_synthetic: bool = False,
) -> User:
    """Create an account with an initial password that must be changed at first login."""
    _require(actor, Capability.USER_MANAGE)
    username = username.strip()
    if not username or len(username) > 150:
        raise ServiceError(_("A username has 1 to 150 characters."), field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError(_("That username is taken."), field="username")
    _check_phone(phone)
    user = User(
        username=username,
        display_name=display_name.strip(),
        phone=phone,
        must_change_password=True,
        is_demo=is_demo,
        is_synthetic=is_synthetic,
    )
    _check_password(password, user)
    user.set_password(password)
    user.save()
    event_record(actor=actor, verb="user.created", obj=user, after=snapshot(user, _USER_FIELDS))
    return user


@transaction.atomic
def user_set_active(*, actor: Any, user: User, active: bool) -> User:
    """Disable an account (or enable it again); accounts are never deleted."""
    _require(actor, Capability.USER_MANAGE)
    if actor is not None and actor.pk == user.pk and not active:
        raise ServiceError(_("You cannot disable your own account."))
    _refuse_admin_target(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return user
    before = snapshot(user, _USER_FIELDS)
    user.is_active = active
    user.save(update_fields=["is_active"])
    event_record(
        actor=actor,
        verb="user.enabled" if active else "user.disabled",
        obj=user,
        before=before,
        after=snapshot(user, _USER_FIELDS),
    )
    return user


@transaction.atomic
def user_reset_password(*, actor: Any, user: User, password: str) -> User:
    """An administrator sets a new initial password; the user must change it at next login."""
    _require(actor, Capability.USER_MANAGE)
    _refuse_admin_target(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_password(password, user)
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    event_record(actor=actor, verb="user.password_reset", obj=user)
    return user


@transaction.atomic
def user_change_own_password(*, user: User, old_password: str, new_password: str) -> User:
    """The user replaces their password, proving the old one."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.check_password(old_password):
        raise ServiceError(_("The current password is wrong."), field="old_password")
    if old_password == new_password:
        raise ServiceError(_("The new password must differ from the old one."), field="password")
    _check_password(new_password, locked)
    locked.set_password(new_password)
    locked.must_change_password = False
    locked.password_changed_at = timezone.now()
    locked.save(update_fields=["password", "must_change_password", "password_changed_at"])
    event_record(actor=locked, verb="user.password_changed", obj=locked)
    user.password = locked.password
    user.must_change_password = False
    return locked


@transaction.atomic
def account_unlock(*, actor: Any, user: User) -> User:
    """Lift a lockout before it expires."""
    _require(actor, Capability.ACCOUNT_UNLOCK)
    user = User.objects.select_for_update().get(pk=user.pk)
    user.failed_logins = 0
    user.locked_until = None
    user.save(update_fields=["failed_logins", "locked_until"])
    event_record(actor=actor, verb="user.unlocked", obj=user)
    return user


@transaction.atomic
def assignment_grant(
    *,
    actor: Any,
    user: User,
    role: str,
    region: Region,
    department: Department | None = None,
    sentinel: Sentinel | None = None,
    area: Area | None = None,
) -> Assignment:
    """Give a user a role in a place, checking that the role fits the place and the 三员 rule."""
    _require(actor, Capability.ASSIGNMENT_MANAGE)
    if role not in Role.values:
        raise ServiceError(_("Unknown role."), field="role")
    User.objects.select_for_update().filter(pk=user.pk).first()
    active = Assignment.objects.filter(user=user, is_active=True)
    if role in ADMIN_ROLES and active.filter(role__in=ADMIN_ROLES).exists():
        raise ServiceError(
            _(
                "System, security and audit administrators are kept separate: this user already "
                "holds one of those roles."
            ),
            field="role",
        )
    if actor is not None and actor.pk == user.pk:
        raise ServiceError(_("Nobody grants roles to themselves."), field="user")
    if region.level not in ROLE_LEVELS[role]:
        raise ServiceError(
            _("A %(role)s cannot be assigned at the level of a %(level)s.")
            % {"role": Role(role).label, "level": region.get_level_display()},
            field="region",
        )
    if role == Role.OFFICER:
        if department is None:
            raise ServiceError(_("An officer belongs to a department."), field="department")
        if not region.path.startswith(department.jurisdiction.path):
            raise ServiceError(
                _("An officer's place must lie within the department's jurisdiction."),
                field="region",
            )
    elif department is not None:
        raise ServiceError(_("Only officers belong to a department."), field="department")
    if role == Role.SCHOOL_SENTINEL and (sentinel is None or sentinel.region_id != region.pk):
        raise ServiceError(
            _("A school sentinel is assigned to a school of this community."), field="sentinel"
        )
    if role == Role.AREA_RESPONSIBLE and (area is None or area.region_id != region.pk):
        raise ServiceError(_("An area responsible is assigned to an area here."), field="area")
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(
                user=user,
                role=role,
                region=region,
                department=department,
                sentinel=sentinel,
                area=area,
            )
    except IntegrityError:
        raise ServiceError(_("The user already holds this role here."), field="role") from None
    event_record(
        actor=actor,
        verb="assignment.granted",
        obj=assignment,
        after=snapshot(assignment, _ASSIGNMENT_FIELDS),
    )
    forget_scope(user)
    return assignment


@transaction.atomic
def assignment_end(*, actor: Any, assignment: Assignment) -> Assignment:
    """End a role; the assignment stays on record."""
    _require(actor, Capability.ASSIGNMENT_MANAGE)
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if not assignment.is_active:
        return assignment
    before = snapshot(assignment, _ASSIGNMENT_FIELDS)
    assignment.is_active = False
    assignment.ended_at = timezone.now()
    assignment.save(update_fields=["is_active", "ended_at"])
    event_record(
        actor=actor,
        verb="assignment.ended",
        obj=assignment,
        before=before,
        after=snapshot(assignment, _ASSIGNMENT_FIELDS),
    )
    return assignment


@transaction.atomic
def department_upsert(
    *, actor: Any, kind: str, name: str, short_name: str, jurisdiction: Region
) -> tuple[Department, str]:
    """Create a department, or rename the one of that kind in that jurisdiction."""
    _require(actor, Capability.DEPARTMENT_MANAGE)
    if not name.strip() or not short_name.strip():
        raise ServiceError(_("A department needs a name and a short name."), field="name")
    existing = (
        Department.objects.select_for_update().filter(kind=kind, jurisdiction=jurisdiction).first()
    )
    if existing is None:
        department = Department.objects.create(
            kind=kind, name=name.strip(), short_name=short_name.strip(), jurisdiction=jurisdiction
        )
        event_record(
            actor=actor,
            verb="department.created",
            obj=department,
            after=snapshot(department, _DEPARTMENT_FIELDS),
        )
        return department, "created"
    if existing.name == name.strip() and existing.short_name == short_name.strip():
        return existing, "unchanged"
    before = snapshot(existing, _DEPARTMENT_FIELDS)
    existing.name = name.strip()
    existing.short_name = short_name.strip()
    existing.save(update_fields=["name", "short_name"])
    event_record(
        actor=actor,
        verb="department.updated",
        obj=existing,
        before=before,
        after=snapshot(existing, _DEPARTMENT_FIELDS),
    )
    return existing, "updated"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt."""

    user: User | None
    error: str = ""
    # The password was right, and the user's authenticator code is asked for next.
    second_factor: bool = False


@transaction.atomic
def login_attempt(*, username: str, password: str) -> LoginResult:
    """Check a password, counting failures and locking the account after too many."""
    now = timezone.now()
    user = User.objects.select_for_update().filter(username__iexact=username.strip()).first()
    if user is None:
        # Spend the time of a password check, so that timing does not reveal which names exist.
        make_password(password)
        event_record(
            actor=None,
            verb="login.failed",
            actor_label=username[:150],
            after={"reason": "unknown_user"},
        )
        return LoginResult(None, _("Wrong username or password."))
    if user.locked_until and user.locked_until > now:
        event_record(actor=None, verb="login.refused_locked", obj=user, actor_label=user.username)
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return LoginResult(
            None,
            _("This account is locked after repeated failures; try again in %(m)d minutes.")
            % {"m": minutes},
        )
    if not user.is_active or not user.check_password(password):
        reason = "inactive" if not user.is_active else "wrong_password"
        locked = login_failure_record(user, now=now, reason=reason)
        if locked:
            return LoginResult(
                None,
                _("Too many failed attempts: the account is locked for %(m)d minutes.")
                % {"m": settings.LOCKOUT_MINUTES},
            )
        return LoginResult(None, _("Wrong username or password."))
    if admin_network_refused(user):
        # Only after the password is right: a refusal must not tell who is an administrator.
        event_record(
            actor=None,
            verb="login.refused_network",
            obj=user,
            actor_label=user.username,
            after={"ip": current_ip()},
        )
        return LoginResult(None, refusal_message())
    if has_second_factor(user):
        # Nothing is reset before the code is right too: a known password must not buy unlimited
        # guesses at the code (otp.second_factor_check counts them and completes the sign-in).
        event_record(actor=user, verb="login.password_accepted", obj=user)
        return LoginResult(user, second_factor=True)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login = now
    user.save(update_fields=["failed_logins", "locked_until", "last_login"])
    event_record(actor=user, verb="login.succeeded", obj=user)
    return LoginResult(user)


def logout_record(*, user: Any, reason: str) -> None:
    """Record a logout (by the user, or by the idle timeout)."""
    if getattr(user, "is_authenticated", False):
        event_record(actor=user, verb=f"logout.{reason}", obj=user)


class PasswordChangeReason:
    """Why a user must replace their password before doing anything else."""

    INITIAL = "initial"
    EXPIRED = "expired"


def password_change_reason(user: User) -> str | None:
    """An initial (or reset) password, or one older than PASSWORD_MAX_AGE_DAYS; else None."""
    if settings.BIHUAN_DEMO and user.is_demo:
        return None
    if user.must_change_password:
        return PasswordChangeReason.INITIAL
    # Accounts older than the record of password changes count from the day they were made.
    changed = user.password_changed_at or user.date_joined
    if timezone.now() - changed > datetime.timedelta(days=settings.PASSWORD_MAX_AGE_DAYS):
        return PasswordChangeReason.EXPIRED
    return None


def password_change_required(user: User) -> bool:
    """Must this user replace their password before doing anything else?"""
    return password_change_reason(user) is not None
