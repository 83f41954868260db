"""The email job: claimed with a conditional UPDATE, so a second run sends nothing."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from bihuan.accounts.models import User
from bihuan.notifications import services
from bihuan.notifications.models import Notification
from bihuan.notifications.tasks import resend_pending_emails, send_notification_email
from bihuan.notifications.tests.smtp import SmtpSink


def _notification(user: User, address: str = "market@example.cn", key: str = "k") -> Notification:
    user.email = address
    user.save(update_fields=["email"])
    services.notify(users=[user], kind="test", title="新工单：派单 #7", url="/orders/7/", key=key)
    return Notification.objects.get(user=user, key=key)


def test_running_the_email_job_twice_sends_once(officer_market: User) -> None:
    notification = _notification(officer_market)
    assert send_notification_email.call(notification.pk) is True
    assert send_notification_email.call(notification.pk) is False
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_a_claim_younger_than_the_timeout_is_left_to_its_worker(officer_market: User) -> None:
    notification = _notification(officer_market)
    Notification.objects.filter(pk=notification.pk).update(
        email_claimed_at=timezone.now() - datetime.timedelta(minutes=14)
    )
    assert send_notification_email.call(notification.pk) is False
    assert mail.outbox == []


def test_a_claim_left_by_a_killed_worker_is_taken_over(officer_market: User) -> None:
    notification = _notification(officer_market)
    Notification.objects.filter(pk=notification.pk).update(
        email_claimed_at=timezone.now() - datetime.timedelta(minutes=16)
    )
    assert send_notification_email.call(notification.pk) is True
    assert len(mail.outbox) == 1


@override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_PORT=1)
def test_a_failed_send_releases_the_claim_for_the_next_run(officer_market: User) -> None:
    notification = _notification(officer_market)
    with pytest.raises(OSError):
        send_notification_email.call(notification.pk)
    notification.refresh_from_db()
    assert (notification.email_claimed_at, notification.emailed_at) == (None, None)


def test_a_user_whose_address_was_removed_gets_no_email(officer_market: User) -> None:
    notification = _notification(officer_market)
    User.objects.filter(pk=officer_market.pk).update(email="")
    assert send_notification_email.call(notification.pk) is False
    assert mail.outbox == []


@override_settings(BIHUAN_BASE_URL="https://bihuan.example.cn/")
def test_the_email_reaches_a_real_smtp_server(officer_market: User) -> None:
    notification = _notification(officer_market)
    with (
        SmtpSink() as sink,
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
            EMAIL_USE_TLS=False,
            EMAIL_TIMEOUT=5,
        ),
    ):
        assert send_notification_email.call(notification.pk) is True
        assert send_notification_email.call(notification.pk) is False
    [message] = sink.messages
    assert sink.envelopes == [("bihuan@localhost", ["market@example.cn"])]
    assert "新工单：派单 #7" in str(message["Subject"])
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "https://bihuan.example.cn/orders/7/" in body.get_content()


def test_the_sweep_enqueues_emails_that_were_never_sent(
    officer_market: User, supervisor_city: User
) -> None:
    pending = _notification(officer_market, key="pending")
    sent = _notification(supervisor_city, address="supervisor@example.cn", key="sent")
    send_notification_email.call(sent.pk)
    assert resend_pending_emails.call() == 1
    [job] = DBTaskResult.objects.filter(task_path=send_notification_email.module_path)
    assert job.args_kwargs["args"] == [pending.pk]
