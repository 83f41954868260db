"""Two-factor sign-in: a TOTP authenticator and ten single-use recovery codes, on django-otp.

django-otp keeps the devices and checks the codes, refusing a TOTP code already used (``last_t``)
and deleting a recovery code once used. This module decides who must have a second factor, and
records enrolment, removal and every code tried. django-otp's own throttling is off
(``OTP_*_THROTTLE_FACTOR = 0``): a wrong code counts towards the account lockout instead, so that
both factors share one lockout policy (等保 8.1.4.1 b).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from bihuan.accounts.lockout import login_failure_record
from bihuan.accounts.models import Role, User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.audit.services import event_record
from bihuan.core.errors import NotAllowed, ServiceError

# In the session: its user has no second factor and needs none (checked at sign-in).
CLEAR_KEY = "bihuan_otp_clear"
# In the session: the secret being enrolled, until its first code confirms it.
ENROL_KEY = "bihuan_otp_enrol"
# In the session: the user whose password was right, awaiting the code, and since when.
PENDING_KEY = "bihuan_otp_pending"
PENDING_SECONDS = 5 * 60
RECOVERY_CODES = 10
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"
_TOTP_CODE = re.compile(r"\d{6}")


@checks.register(checks.Tags.security)
def check_required_roles(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A misspelt role in OTP_REQUIRED_ROLES would silently exempt that role: refuse it."""
    unknown = sorted(set(settings.OTP_REQUIRED_ROLES) - set(Role.values))
    if not unknown:
        return []
    return [
        checks.Error(
            f"OTP_REQUIRED_ROLES names unknown roles: {', '.join(unknown)}",
            hint=f"Known roles: {', '.join(Role.values)}",
            id="accounts.E101",
        )
    ]


def second_factor_required(user: User) -> bool:
    """Must this user have a second factor? (Roles in OTP_REQUIRED_ROLES; demo accounts in demo
    mode are exempt, as they are from the forced password change.)"""
    if not scope_of(user).roles & frozenset(settings.OTP_REQUIRED_ROLES):
        return False
    return not (settings.BIHUAN_DEMO and user.is_demo)


def has_second_factor(user: User) -> bool:
    """Has the user a confirmed authenticator?"""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: User) -> int:
    """How many unused recovery codes the user has."""
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def new_secret() -> str:
    """A fresh TOTP secret (hex), kept in the enrolling session until its first code confirms it."""
    return random_hex(20)


def provisioning_device(user: User, secret: str) -> TOTPDevice:
    """An unsaved device for the secret, for its otpauth:// URL and base32 form."""
    return TOTPDevice(user=user, name=TOTP_NAME, key=secret)


def normalize_code(code: str) -> str:
    """Digits of a TOTP code, or a recovery code without spaces and hyphens, in lower case."""
    return re.sub(r"[\s-]", "", code).lower()


def _devices_removed(user: User) -> dict[str, Any]:
    devices = list(TOTPDevice.objects.filter(user=user)) + list(
        StaticDevice.objects.filter(user=user)
    )
    removed = {"devices": [d.name for d in devices if d.confirmed]}
    # Credentials, not records: a removed secret must not survive anywhere.
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    return removed


def _match(user: User, code: str) -> Device | None:
    """The user's device that accepts the code (the code is used up), or None."""
    code = normalize_code(code)
    if _TOTP_CODE.fullmatch(code):
        totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        return totp if totp is not None and totp.verify_token(code) else None
    static = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    return static if static is not None and static.verify_token(code) else None


@transaction.atomic
def second_factor_enrol(*, user: User, secret: str, code: str) -> list[str]:
    """Confirm a new authenticator with its first code; returns the recovery codes (shown once)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if has_second_factor(user):
        raise ServiceError(_("Two-factor sign-in is already set up."), field="code")
    device = provisioning_device(user, secret)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    code = normalize_code(code)
    if not _TOTP_CODE.fullmatch(code) or not totp.verify(int(code), tolerance=device.tolerance):
        raise ServiceError(
            _("That code is not right: check the time on your phone and try again."), field="code"
        )
    # Leftovers of an abandoned setup, if any, are replaced.
    _devices_removed(user)
    device.confirmed = True
    # The confirming code may not be used again to sign in.
    device.last_t = totp.t()
    device.save()
    recovery = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=c) for c in codes)
    event_record(actor=user, verb="otp.enrolled", obj=user, after={"recovery_codes": len(codes)})
    return codes


@transaction.atomic
def second_factor_disable(*, user: User, code: str) -> None:
    """The user removes their second factor, proving it with a current code."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if _match(user, code) is None:
        raise ServiceError(_("That code is not right."), field="code")
    removed = _devices_removed(user)
    event_record(actor=user, verb="otp.disabled", obj=user, before=removed)


@transaction.atomic
def second_factor_reset(*, actor: Any, user: User) -> None:
    """A security administrator removes a user's second factor (a lost phone); they enrol again."""
    if not can(actor, Capability.ACCOUNT_UNLOCK):
        raise NotAllowed(_("Your roles do not allow this change."))
    if actor.pk == user.pk:
        raise ServiceError(_("Remove your own second factor on your two-factor page."))
    user = User.objects.select_for_update().get(pk=user.pk)
    if not has_second_factor(user):
        raise ServiceError(_("This account has no second factor."))
    removed = _devices_removed(user)
    event_record(actor=actor, verb="otp.reset", obj=user, before=removed)


@dataclass(frozen=True)
class CodeResult:
    """The outcome of one code entered at sign-in."""

    device: Device | None
    error: str = ""
    locked: bool = False


@transaction.atomic
def second_factor_check(*, user: User, code: str) -> CodeResult:
    """Check the code of the second sign-in step; a wrong one counts towards the lockout."""
    now = timezone.now()
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.locked_until and user.locked_until > now:
        event_record(actor=None, verb="login.refused_locked", obj=user, actor_label=user.username)
        return CodeResult(None, _("This account is locked after repeated failures."), locked=True)
    if not user.is_active:
        return CodeResult(None, _("This account is disabled."), locked=True)
    device = _match(user, code)
    if device is None:
        # The same count and window as wrong passwords.
        locked = login_failure_record(user, now=now, reason="wrong_code")
        if locked:
            return CodeResult(
                None,
                _("Too many failed attempts: the account is locked for %(m)d minutes.")
                % {"m": settings.LOCKOUT_MINUTES},
                locked=True,
            )
        return CodeResult(None, _("That code is not right."))
    user.failed_logins = 0
    user.last_login = now
    user.save(update_fields=["failed_logins", "last_login"])
    kind = "totp" if isinstance(device, TOTPDevice) else "recovery_code"
    event_record(actor=user, verb="login.succeeded", obj=user, after={"second_factor": kind})
    return CodeResult(device)


def pending_start(request: HttpRequest, user: User, target: str) -> None:
    """Remember, in the still anonymous session, whose password was right and where they go next."""
    request.session.cycle_key()
    request.session[PENDING_KEY] = [user.pk, time.time(), target]


def pending_user(request: HttpRequest) -> tuple[User, str] | None:
    """The user awaiting their code, and their destination, unless the wait has expired."""
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return None
    user_id, since, target = pending
    if time.time() - since > PENDING_SECONDS:
        del request.session[PENDING_KEY]
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return (user, target) if user is not None else None
