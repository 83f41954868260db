"""Signed-in sessions: tracked from sign-in, seen at most once a minute, ended on sign-out, idle
timeout, or from another session (the owner's own, or a security administrator's).

The tracking row keeps a SHA-256 of the session key, never the key. Ending a session from elsewhere
must delete it from the session store, which is keyed by the raw key, so the open sessions' keys are
hashed until one matches: linear in the number of open sessions, on a rare deliberate action, and it
keeps raw keys out of every table but the session store itself. This needs a database-backed
session engine (``db`` or ``cached_db``), which is what Bihuan uses.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import time
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts import otp
from bihuan.accounts.models import SessionEnd, User, UserSession
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.selectors import users_visible_to
from bihuan.audit.services import event_record
from bihuan.core.context import current_ip
from bihuan.core.errors import NotAllowed, ServiceError

# In the session: [tracking row id, hash of the key it was seen under, unix time of the last write].
TRACK_KEY = "bihuan_session"
# Writing last_seen on every request would turn each read into a write; once a minute is enough.
TOUCH_EVERY_SECONDS = 60
# Reasons that the ended browser is told about on its next request.
ENDED_ELSEWHERE = frozenset({SessionEnd.ENDED, SessionEnd.FORCED})

_BROWSERS = [
    ("MicroMessenger", "WeChat"),
    ("Edg", "Edge"),
    ("Firefox", "Firefox"),
    ("Chrome", "Chrome"),
    ("Version", "Safari"),
]
_SYSTEMS = [
    ("HarmonyOS", "HarmonyOS"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
]


def key_hash(session_key: str) -> str:
    """The SHA-256 of a session key, as stored on the tracking row."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def user_agent_summary(user_agent: str) -> str:
    """A browser and system a person recognises ("Chrome 131 · Windows").

    A summary for people telling their own devices apart, not detection: a handful of patterns
    covers the browsers used here, and the raw header is neither needed nor kept.
    """
    browser = ""
    for token, name in _BROWSERS:
        match = re.search(rf"\b{token}/(\d+)", user_agent)
        if match:
            browser = f"{name} {match.group(1)}"
            break
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    summary = " · ".join(part for part in (browser, system) if part)
    return (summary or user_agent.strip())[:100]


def session_start(request: HttpRequest, user: User) -> UserSession:
    """Start tracking the session the user has just signed in with."""
    session = request.session
    if session.session_key is None:
        session.save()
    digest = key_hash(str(session.session_key))
    now = timezone.now()
    # A key is tracked by one open row: a stale one (never expected) is closed, not duplicated.
    UserSession.objects.filter(key_hash=digest, ended_at__isnull=True).update(
        ended_at=now, ended_reason=SessionEnd.EXPIRED
    )
    row = UserSession.objects.create(
        user=user,
        key_hash=digest,
        last_seen_at=now,
        ip=current_ip() or request.META.get("REMOTE_ADDR") or None,
        user_agent=user_agent_summary(request.META.get("HTTP_USER_AGENT", "")),
    )
    session[TRACK_KEY] = [row.pk, digest, time.time()]
    return row


def session_seen(request: HttpRequest) -> bool:
    """Note that the signed-in session is in use; False if its row was ended meanwhile.

    Costs no query unless a minute has passed or the key has changed (a password change cycles it).
    """
    session = request.session
    marker = session.get(TRACK_KEY)
    if marker is None:
        session_start(request, request.user)  # type: ignore[arg-type]
        return True
    row_id, seen_hash, written = marker
    now = time.time()
    digest = key_hash(str(session.session_key))
    if digest == seen_hash and now - written < TOUCH_EVERY_SECONDS:
        return True
    alive = UserSession.objects.filter(pk=row_id, ended_at__isnull=True).update(
        last_seen_at=timezone.now(), key_hash=digest
    )
    session[TRACK_KEY] = [row_id, digest, now]
    return bool(alive)


def current_row_id(request: HttpRequest) -> int | None:
    """The tracking row of this request's session."""
    marker = request.session.get(TRACK_KEY)
    return int(marker[0]) if marker else None


def session_close(request: HttpRequest, reason: str) -> None:
    """Mark this request's session ended, just before it is signed out (sign-out, idle timeout)."""
    row_id = current_row_id(request)
    if row_id is not None:
        UserSession.objects.filter(pk=row_id, ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_reason=reason
        )


def session_gone(session_key: str) -> str:
    """Why the session of a cookie no longer signs anyone in ("" if it was never tracked).

    A session that vanished without being ended (expired, account disabled) is closed here.
    """
    row = UserSession.objects.filter(key_hash=key_hash(session_key)).order_by("-pk").first()
    if row is None:
        return ""
    if row.ended_at is None:
        UserSession.objects.filter(pk=row.pk, ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_reason=SessionEnd.EXPIRED
        )
        return SessionEnd.EXPIRED
    return row.ended_reason


def _store_delete(digest: str) -> None:
    # See the module docstring: the store is keyed by the raw key, which is never kept elsewhere.
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore
    keys = (
        store.get_model_class()
        .objects.filter(expire_date__gt=timezone.now())
        .values_list("session_key", flat=True)
    )
    for key in keys.iterator():
        if key_hash(key) == digest:
            store(session_key=key).delete()
            return


def _end(*, actor: Any, row: UserSession, reason: str) -> UserSession:
    _store_delete(row.key_hash)
    row.ended_at = timezone.now()
    row.ended_reason = reason
    row.ended_by = actor
    row.save(update_fields=["ended_at", "ended_reason", "ended_by"])
    event_record(
        actor=actor,
        verb=f"session.{reason}",
        obj=row,
        after={"user": row.user.username, "ip": row.ip, "signed_in": row.created_at},
    )
    return row


def _may_end(actor: Any, user: User) -> str:
    """The reason an actor ending this user's session records, or NotAllowed."""
    if actor.pk == user.pk:
        return SessionEnd.ENDED
    if (
        can(actor, Capability.SESSION_MANAGE)
        and users_visible_to(actor).filter(pk=user.pk).exists()
    ):
        return SessionEnd.FORCED
    raise NotAllowed(_("Your roles do not allow this change."))


@transaction.atomic
def session_end(*, actor: Any, row: UserSession, current: int | None = None) -> UserSession:
    """End one session from another: the owner's own, or any by a security administrator."""
    row = UserSession.objects.select_for_update().select_related("user").get(pk=row.pk)
    reason = _may_end(actor, row.user)
    if row.pk == current:
        raise ServiceError(_("This is the session you are using: sign out instead."))
    if row.ended_at is not None:
        return row
    return _end(actor=actor, row=row, reason=reason)


@transaction.atomic
def sessions_end_for(*, actor: Any, user: User, keep: int | None = None) -> int:
    """End every open session of a user (but ``keep``, the actor's own); returns how many."""
    reason = _may_end(actor, user)
    rows = (
        UserSession.objects.select_for_update()
        .select_related("user")
        .filter(user=user, ended_at__isnull=True)
        .exclude(pk=keep or 0)
    )
    ended = 0
    for row in rows:
        _end(actor=actor, row=row, reason=reason)
        ended += 1
    return ended


def sessions_visible_to(user: Any) -> QuerySet[UserSession]:
    """Open sessions the user may see: their own, and those of the people a security admin sees."""
    rows = UserSession.objects.filter(
        ended_at__isnull=True, last_seen_at__gte=idle_cutoff()
    ).select_related("user")
    if can(user, Capability.SESSION_MANAGE):
        return rows.filter(Q(user=user) | Q(user__in=users_visible_to(user)))
    return rows.filter(user=user)


def idle_cutoff() -> datetime.datetime:
    """Sessions not seen since then are signed out by the idle timeout at their next request."""
    # last_seen_at lags by up to a minute (TOUCH_EVERY_SECONDS).
    return timezone.now() - datetime.timedelta(
        minutes=settings.IDLE_TIMEOUT_MINUTES, seconds=TOUCH_EVERY_SECONDS
    )


def on_signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """Every sign-in (the login page, the second step, tests' force_login) starts tracking.

    Connected to ``user_logged_in`` because every way of signing in passes through it. Whether the
    session may skip the second-factor check is decided here once, not on every request.
    """
    if request is None:
        return
    session_start(request, user)
    if not otp.has_second_factor(user) and not otp.second_factor_required(user):
        request.session[otp.CLEAR_KEY] = True
