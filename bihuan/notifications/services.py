"""Writes to notifications: tell users once, send each email once, mark what was read."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.audit.services import event_record
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.notifications.models import Notification

logger = logging.getLogger(__name__)

# A worker killed between claiming and sending leaves a claim behind; after this long another
# run may take it over. Longer than any SMTP exchange, short enough that the email still matters.
EMAIL_CLAIM_TIMEOUT = datetime.timedelta(minutes=15)


def _enqueue_emails(notification_ids: list[int]) -> None:
    # Imported here: tasks import this module.
    from bihuan.notifications.tasks import send_notification_email

    for notification_id in notification_ids:
        send_notification_email.enqueue(notification_id)


def notify(
    *, users: Iterable[Any], kind: str, title: str, body: str = "", url: str = "", key: str
) -> int:
    """Tell each active user once about ``key``; returns how many were told for the first time."""
    if not key or len(key) > 200:
        raise ServiceError(_("A notification needs a key of at most 200 characters."))
    if not title or len(title) > 200:
        raise ServiceError(_("A notification needs a title of at most 200 characters."))
    if url and not (url.startswith("/") and not url.startswith("//")):
        # Links stay inside Bihuan: a notification must never send a user elsewhere.
        raise ServiceError(_("A notification links only to a page of Bihuan."))
    user_ids = {user.pk for user in users if user.is_active}
    if not user_ids:
        return 0
    told = set(
        Notification.objects.filter(key=key, user_id__in=user_ids).values_list("user_id", flat=True)
    )
    fresh = sorted(user_ids - told)
    if not fresh:
        return 0
    now = timezone.now()
    with transaction.atomic():
        Notification.objects.bulk_create(
            [
                Notification(
                    user_id=user_id,
                    kind=kind,
                    title=title,
                    body=body,
                    url=url,
                    key=key,
                    created_at=now,
                )
                for user_id in fresh
            ],
            # A concurrent notify of the same key may have won; its row stands and ours is dropped.
            ignore_conflicts=True,
        )
        # bulk_create with ignore_conflicts returns no ids; our rows are the ones stamped `now`.
        created = list(
            Notification.objects.filter(key=key, user_id__in=fresh, created_at=now).values_list(
                "id", "user__email"
            )
        )
        if created:
            event_record(
                actor=None,
                verb="notification.create",
                object_type=Notification._meta.label_lower,
                object_id=key[:64],
                object_repr=title,
                after={"kind": kind, "key": key, "users": fresh, "new": len(created)},
            )
        to_email = [pk for pk, email in created if email]
        if to_email:
            # Only once the caller's transaction commits: a rolled-back change tells nobody.
            transaction.on_commit(lambda: _enqueue_emails(to_email))
    return len(created)


def _email_text(notification: Notification) -> tuple[str, str]:
    subject = f"[{_('Bihuan')}] {notification.title}"
    lines = [notification.title]
    if notification.body:
        lines += ["", notification.body]
    if notification.url:
        lines += ["", settings.BIHUAN_BASE_URL.rstrip("/") + notification.url]
    return subject, "\n".join(lines) + "\n"


def notification_email_send(*, notification_id: int) -> bool:
    """Email one notification unless it was or is being emailed; True if this run sent it."""
    claimed_at = timezone.now()
    claimed = (
        Notification.objects.filter(pk=notification_id, emailed_at__isnull=True)
        .filter(
            Q(email_claimed_at__isnull=True)
            | Q(email_claimed_at__lt=claimed_at - EMAIL_CLAIM_TIMEOUT)
        )
        .exclude(user__email="")
        .update(email_claimed_at=claimed_at)
    )
    if not claimed:
        return False
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    subject, text = _email_text(notification)
    try:
        send_mail(subject, text, None, [notification.user.email])
    except Exception:
        # Release the claim so the next run (a retry or the sweep) may send it at once.
        Notification.objects.filter(pk=notification_id, email_claimed_at=claimed_at).update(
            email_claimed_at=None
        )
        raise
    Notification.objects.filter(pk=notification_id, email_claimed_at=claimed_at).update(
        emailed_at=timezone.now()
    )
    return True


def notification_emails_pending(*, since: datetime.timedelta) -> list[int]:
    """Ids of notifications created within ``since`` whose email is due and nobody is sending."""
    now = timezone.now()
    return list(
        Notification.objects.filter(created_at__gte=now - since, emailed_at__isnull=True)
        .filter(
            Q(email_claimed_at__isnull=True) | Q(email_claimed_at__lt=now - EMAIL_CLAIM_TIMEOUT)
        )
        .exclude(user__email="")
        .order_by("id")
        .values_list("id", flat=True)
    )


def notification_mark_read(*, actor: Any, notification: Notification) -> Notification:
    """Mark one of the actor's notifications read (reading it again changes nothing)."""
    with transaction.atomic():
        locked = Notification.objects.select_for_update().get(pk=notification.pk)
        if locked.user_id != getattr(actor, "pk", None):
            raise NotAllowed(_("This notification is not yours."))
        if locked.read_at is not None:
            return locked
        locked.read_at = timezone.now()
        locked.save(update_fields=["read_at"])
        event_record(actor=actor, verb="notification.read", obj=locked)
    return locked


def notifications_mark_all_read(*, actor: Any) -> int:
    """Mark every unread notification of the actor read; returns how many."""
    with transaction.atomic():
        count = Notification.objects.filter(user_id=actor.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        if count:
            event_record(
                actor=actor,
                verb="notification.read_all",
                object_type=Notification._meta.label_lower,
                after={"count": count},
            )
    return count
