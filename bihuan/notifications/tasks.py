"""Background work of notifications, run by the task worker."""

from __future__ import annotations

import datetime

from django_tasks import task

from bihuan.notifications.services import notification_email_send, notification_emails_pending

# How far back the sweep looks for emails that were never sent; older news is not worth a mail.
SWEEP_WINDOW = datetime.timedelta(days=1)


@task()
def send_notification_email(notification_id: int) -> bool:
    """Email one notification; a second run of the same job sends nothing."""
    return notification_email_send(notification_id=notification_id)


@task()
def resend_pending_emails(slot: str = "") -> int:
    """Re-enqueue the emails of the last day that failed or whose worker died (for the schedule)."""
    pending = notification_emails_pending(since=SWEEP_WINDOW)
    for notification_id in pending:
        send_notification_email.enqueue(notification_id)
    return len(pending)
