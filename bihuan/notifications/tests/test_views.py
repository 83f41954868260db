"""The notifications page, the bell and marking read, with htmx and without JS."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bihuan.accounts.models import User
from bihuan.notifications import services
from bihuan.notifications.models import Notification

HTMX = {"HX-Request": "true"}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _notify(users: list[User], key: str, url: str = "") -> Notification:
    services.notify(users=users, kind="test", title=f"标题 {key}", url=url, key=key)
    return Notification.objects.filter(key=key).first()  # type: ignore[return-value]


def _bell_count(html: str) -> str | None:
    """The bell's number, or None when it is hidden."""
    match = re.search(r'<span class="count" data-unread="(\d+)"( hidden)?>', html)
    assert match, "no bell on the page"
    return None if match[2] else match[1]


def test_the_list_shows_the_users_notifications_newest_first(
    supervisor_city: User, officer_market: User
) -> None:
    _notify([supervisor_city], "older", url="/registry/")
    _notify([supervisor_city], "newer")
    _notify([officer_market], "theirs")
    html = _client(supervisor_city).get(reverse("notifications:list")).content.decode()
    assert html.index("标题 newer") < html.index("标题 older")
    assert '<a href="/registry/">标题 older</a>' in html
    assert "标题 theirs" not in html


def test_the_unread_filter_hides_read_notifications(supervisor_city: User) -> None:
    read = _notify([supervisor_city], "read")
    _notify([supervisor_city], "unread")
    services.notification_mark_read(actor=supervisor_city, notification=read)
    html = _client(supervisor_city).get(reverse("notifications:unread")).content.decode()
    assert "标题 unread" in html
    assert "标题 read<" not in html


def test_the_list_is_paged(supervisor_city: User) -> None:
    for i in range(31):
        _notify([supervisor_city], f"n{i:02d}")
    client = _client(supervisor_city)
    first = client.get(reverse("notifications:list")).content.decode()
    second = client.get(reverse("notifications:list") + "?page=2").content.decode()
    assert "标题 n30" in first and "标题 n00" not in first
    assert "标题 n00" in second and "?page=1" in second


def test_the_bell_shows_the_unread_count_and_hides_zero(supervisor_city: User) -> None:
    client = _client(supervisor_city)
    assert _bell_count(client.get(reverse("accounts:home")).content.decode()) is None
    _notify([supervisor_city], "a")
    _notify([supervisor_city], "b")
    assert _bell_count(client.get(reverse("accounts:home")).content.decode()) == "2"
    assert _bell_count(client.get(reverse("notifications:bell")).content.decode()) == "2"


def test_the_bell_costs_one_query_per_page(supervisor_city: User) -> None:
    _notify([supervisor_city], "a")
    client = _client(supervisor_city)
    client.get(reverse("accounts:home"))  # warm the session and caches
    with CaptureQueriesContext(connection) as page:
        client.get(reverse("accounts:home"))
    counts = [q["sql"] for q in page.captured_queries if "notifications_notification" in q["sql"]]
    assert len(counts) == 1


def test_the_list_page_runs_the_same_queries_for_more_rows(supervisor_city: User) -> None:
    client = _client(supervisor_city)
    _notify([supervisor_city], "first")
    client.get(reverse("notifications:list"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("notifications:list"))
    for i in range(5):
        _notify([supervisor_city], f"more{i}")
    with CaptureQueriesContext(connection) as six:
        client.get(reverse("notifications:list"))
    assert len(six) == len(one)


def test_mark_read_without_js_goes_back_to_the_list(supervisor_city: User) -> None:
    notification = _notify([supervisor_city], "a")
    response = _client(supervisor_city).post(
        reverse("notifications:read", args=[notification.pk]),
        {"next": reverse("notifications:list") + "?page=1"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("notifications:list") + "?page=1"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_read_never_redirects_off_site(supervisor_city: User) -> None:
    notification = _notify([supervisor_city], "a")
    response = _client(supervisor_city).post(
        reverse("notifications:read", args=[notification.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("notifications:list")


def test_mark_read_with_htmx_returns_the_row_and_refreshes_the_bell(
    supervisor_city: User,
) -> None:
    notification = _notify([supervisor_city], "a")
    response = _client(supervisor_city).post(
        reverse("notifications:read", args=[notification.pk]), headers=HTMX
    )
    html = response.content.decode()
    assert html.startswith(f'<tr id="notification-{notification.pk}">')
    assert "<form" not in html
    assert response["HX-Trigger"] == '{"notifications-changed": {}}'


def test_mark_all_read_with_htmx_returns_the_list(supervisor_city: User) -> None:
    _notify([supervisor_city], "a")
    _notify([supervisor_city], "b")
    response = _client(supervisor_city).post(
        reverse("notifications:read_all"), {"unread_only": "1"}, headers=HTMX
    )
    html = response.content.decode()
    assert html.startswith('<div id="notification-results">')
    assert "标题 a" not in html  # the unread list is now empty
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert "notifications-changed" in response["HX-Trigger"]


def test_mark_all_read_without_js_goes_back(supervisor_city: User) -> None:
    _notify([supervisor_city], "a")
    response = _client(supervisor_city).post(
        reverse("notifications:read_all"), {"next": reverse("notifications:unread")}
    )
    assert response["Location"] == reverse("notifications:unread")
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_another_users_notification_is_not_found(
    supervisor_city: User, officer_market: User
) -> None:
    theirs = _notify([officer_market], "theirs")
    response = _client(supervisor_city).post(reverse("notifications:read", args=[theirs.pk]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize("name", ["notifications:list", "notifications:bell"])
def test_signed_out_visitors_are_sent_to_sign_in(name: str, db: None) -> None:
    response = Client().get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_marking_read_needs_a_post(supervisor_city: User) -> None:
    notification = _notify([supervisor_city], "a")
    response = _client(supervisor_city).get(reverse("notifications:read", args=[notification.pk]))
    assert response.status_code == 405
