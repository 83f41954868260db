"""Everyone sees their own notifications and nobody else's."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from bihuan.accounts.models import User
from bihuan.notifications import services
from bihuan.notifications.selectors import notifications_visible_to, unread_count


def _notify(users: list[User], key: str) -> None:
    services.notify(users=users, kind="test", title=key, key=key)


def test_a_user_sees_only_their_own_notifications_newest_first(
    supervisor_city: User, officer_market: User
) -> None:
    _notify([supervisor_city, officer_market], "first")
    _notify([supervisor_city], "second")
    _notify([officer_market], "theirs")
    titles = [n.title for n in notifications_visible_to(supervisor_city)]
    assert titles == ["second", "first"]


def test_an_anonymous_visitor_sees_no_notification(supervisor_city: User) -> None:
    _notify([supervisor_city], "first")
    assert list(notifications_visible_to(AnonymousUser())) == []


def test_unread_count_counts_only_the_users_unread(
    supervisor_city: User, officer_market: User
) -> None:
    _notify([supervisor_city, officer_market], "first")
    _notify([supervisor_city], "second")
    services.notification_mark_read(
        actor=supervisor_city,
        notification=notifications_visible_to(supervisor_city).get(key="first"),
    )
    assert unread_count(supervisor_city) == 1
    assert unread_count(officer_market) == 1
