"""Failed sign-in steps: one count and one lockout window for passwords and second factors."""

from __future__ import annotations

import datetime

from django.conf import settings

from bihuan.accounts.models import User
from bihuan.audit.services import event_record


def login_failure_record(user: User, *, now: datetime.datetime, reason: str) -> bool:
    """Count one failed sign-in step; True when it locks the account.

    LOCKOUT_THRESHOLD failures (等保 8.1.4.1 b), whatever the step, lock the account for
    LOCKOUT_MINUTES; each failure is an audit event with its reason.
    """
    user.failed_logins += 1
    fields = ["failed_logins"]
    locked = user.failed_logins >= settings.LOCKOUT_THRESHOLD
    if locked:
        user.locked_until = now + datetime.timedelta(minutes=settings.LOCKOUT_MINUTES)
        user.failed_logins = 0
        fields.append("locked_until")
    user.save(update_fields=fields)
    event_record(
        actor=None,
        verb="login.locked" if locked else "login.failed",
        obj=user,
        actor_label=user.username,
        after={"reason": reason},
    )
    return locked
