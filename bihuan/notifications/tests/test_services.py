"""Notify once per user and key, email only after commit, mark read only one's own."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.notifications import services
from bihuan.notifications.models import Notification

# Tasks run at once, in the process, so an enqueued email is an email in the outbox.
IMMEDIATE = override_settings(
    TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
)
CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def _with_email(user: User, address: str) -> User:
    user.email = address
    user.save(update_fields=["email"])
    return user


def _notify(users: list[User], key: str = "lead:1:overdue", **fields: Any) -> int:
    values: dict[str, Any] = {
        "kind": "lead.overdue",
        "title": "线索 #1 已超期",
        "body": "请尽快办理。",
        "url": "/leads/1/",
    }
    return services.notify(users=users, key=key, **(values | fields))


def test_notify_creates_one_notification_per_user(
    supervisor_city: User, officer_market: User
) -> None:
    assert _notify([supervisor_city, officer_market]) == 2
    rows = Notification.objects.order_by("user__username")
    assert [(n.user, n.title, n.url, n.read_at) for n in rows] == [
        (officer_market, "线索 #1 已超期", "/leads/1/", None),
        (supervisor_city, "线索 #1 已超期", "/leads/1/", None),
    ]


def test_notify_with_the_same_key_tells_nobody_twice(
    supervisor_city: User, officer_market: User
) -> None:
    assert _notify([supervisor_city]) == 1
    assert _notify([supervisor_city, officer_market], title="changed") == 1
    assert _notify([supervisor_city, officer_market]) == 0
    assert Notification.objects.filter(user=supervisor_city).get().title == "线索 #1 已超期"
    assert Notification.objects.count() == 2


def test_notify_skips_inactive_users(supervisor_city: User, officer_market: User) -> None:
    officer_market.is_active = False
    officer_market.save(update_fields=["is_active"])
    assert _notify([supervisor_city, officer_market]) == 1
    assert not Notification.objects.filter(user=officer_market).exists()


def test_notify_records_one_event_per_batch(supervisor_city: User, officer_market: User) -> None:
    _notify([supervisor_city, officer_market])
    _notify([supervisor_city, officer_market])
    [event] = Event.objects.filter(verb="notification.create")
    assert event.after == {
        "kind": "lead.overdue",
        "key": "lead:1:overdue",
        "users": sorted([supervisor_city.pk, officer_market.pk]),
        "new": 2,
    }


@pytest.mark.parametrize("url", ["https://evil.example/", "//evil.example/x", "javascript:x"])
def test_notify_refuses_a_link_outside_bihuan(supervisor_city: User, url: str) -> None:
    with pytest.raises(ServiceError):
        _notify([supervisor_city], url=url)
    assert not Notification.objects.exists()


@IMMEDIATE
def test_email_is_sent_only_once_the_transaction_commits(
    supervisor_city: User, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    _with_email(supervisor_city, "supervisor@example.cn")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            _notify([supervisor_city])
            assert mail.outbox == []
        assert mail.outbox == []
    for callback in callbacks:
        callback()
    [message] = mail.outbox
    assert message.to == ["supervisor@example.cn"]
    assert "线索 #1 已超期" in message.subject
    assert "/leads/1/" in message.body
    assert Notification.objects.get().emailed_at is not None


@IMMEDIATE
def test_a_rolled_back_transaction_sends_nothing(
    supervisor_city: User, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    _with_email(supervisor_city, "supervisor@example.cn")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _notify([supervisor_city])
        raise RuntimeError("the caller's change failed")
    assert callbacks == []
    assert mail.outbox == []
    assert not Notification.objects.exists()


@IMMEDIATE
def test_only_users_with_an_email_address_are_emailed(
    supervisor_city: User,
    officer_market: User,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    _with_email(supervisor_city, "supervisor@example.cn")
    with django_capture_on_commit_callbacks(execute=True):
        _notify([supervisor_city, officer_market])
    assert [m.to for m in mail.outbox] == [["supervisor@example.cn"]]


@IMMEDIATE
def test_a_repeated_notify_sends_no_second_email(
    supervisor_city: User, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    _with_email(supervisor_city, "supervisor@example.cn")
    with django_capture_on_commit_callbacks(execute=True):
        _notify([supervisor_city])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _notify([supervisor_city])
    assert callbacks == []
    assert len(mail.outbox) == 1


def test_mark_read_stamps_the_time_and_records_an_event(supervisor_city: User) -> None:
    _notify([supervisor_city])
    notification = Notification.objects.get()
    read = services.notification_mark_read(actor=supervisor_city, notification=notification)
    assert read.read_at is not None
    [event] = Event.objects.filter(verb="notification.read")
    assert (event.actor, event.object_id) == (supervisor_city, str(notification.pk))


def test_marking_a_read_notification_again_changes_nothing(supervisor_city: User) -> None:
    _notify([supervisor_city])
    notification = Notification.objects.get()
    first = services.notification_mark_read(actor=supervisor_city, notification=notification)
    again = services.notification_mark_read(actor=supervisor_city, notification=notification)
    assert again.read_at == first.read_at
    assert Event.objects.filter(verb="notification.read").count() == 1


def test_nobody_marks_another_users_notification_read(
    supervisor_city: User, officer_market: User
) -> None:
    _notify([officer_market])
    notification = Notification.objects.get()
    with pytest.raises(NotAllowed):
        services.notification_mark_read(actor=supervisor_city, notification=notification)
    notification.refresh_from_db()
    assert notification.read_at is None
    assert not Event.objects.filter(verb="notification.read").exists()


def test_mark_all_read_marks_only_the_actors_unread(
    supervisor_city: User, officer_market: User
) -> None:
    _notify([supervisor_city, officer_market], key="a")
    _notify([supervisor_city], key="b")
    assert services.notifications_mark_all_read(actor=supervisor_city) == 2
    assert services.notifications_mark_all_read(actor=supervisor_city) == 0
    unread = Notification.objects.filter(read_at__isnull=True)
    assert [n.user for n in unread] == [officer_market]
    [event] = Event.objects.filter(verb="notification.read_all")
    assert event.after == {"count": 2}
