"""Signed-in sessions: tracking, the pages, ending one's own and forcing others out."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts import sessions
from bihuan.accounts.models import SessionEnd, User, UserSession
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo.data import DEMO_PASSWORD

IP = "10.20.30.40"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _row(client: Client) -> UserSession:
    return UserSession.objects.get(pk=client.session[sessions.TRACK_KEY][0])


def _signed_in_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_signing_in_starts_a_tracked_session_without_keeping_its_key(
    client: Client, inspector_wenchang: User
) -> None:
    client.post(
        "/login/",
        {"username": "yangtiezhu", "password": DEMO_PASSWORD},
        REMOTE_ADDR=IP,
        HTTP_USER_AGENT=CHROME,
    )
    row = UserSession.objects.get(user=inspector_wenchang)
    key = str(client.session.session_key)
    assert row.key_hash == sessions.key_hash(key) != key
    assert row.ip == IP
    assert row.user_agent == "Chrome 131 · Windows"
    assert row.ended_at is None


@pytest.mark.parametrize(
    ("header", "summary"),
    [
        (CHROME, "Chrome 131 · Windows"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44",
            "WeChat 8 · iOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 · Linux",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
    ],
)
def test_user_agent_is_summarised(header: str, summary: str) -> None:
    assert sessions.user_agent_summary(header) == summary


def test_most_requests_cost_no_query_for_tracking_or_the_second_factor(
    client: Client, inspector_wenchang: User
) -> None:
    client.force_login(inspector_wenchang)
    client.get("/territory/regions/")
    with CaptureQueriesContext(connection) as queries:
        client.get("/territory/regions/")
    touched = [
        q["sql"]
        for q in queries.captured_queries
        if "usersession" in q["sql"] or "otp_" in q["sql"]
    ]
    assert touched == []


def test_last_seen_is_written_once_a_minute(client: Client, inspector_wenchang: User) -> None:
    client.force_login(inspector_wenchang)
    session = client.session
    row_id, digest, _ = session[sessions.TRACK_KEY]
    session[sessions.TRACK_KEY] = [row_id, digest, time.time() - sessions.TOUCH_EVERY_SECONDS - 1]
    session.save()
    before = _row(client).last_seen_at
    with CaptureQueriesContext(connection) as queries:
        client.get("/territory/regions/")
    updates = [
        q
        for q in queries.captured_queries
        if q["sql"].startswith("UPDATE") and "usersession" in q["sql"]
    ]
    assert len(updates) == 1
    assert _row(client).last_seen_at > before


def test_a_changed_session_key_is_followed(client: Client, inspector_wenchang: User) -> None:
    client.force_login(inspector_wenchang)
    row = _row(client)
    session = client.session
    session.cycle_key()
    session.save()
    key = str(session.session_key)
    client.cookies["sessionid"] = key
    client.get("/")
    row.refresh_from_db()
    assert row.key_hash == sessions.key_hash(key)
    assert UserSession.objects.filter(user=inspector_wenchang).count() == 1


def test_signing_out_ends_the_tracked_session(client: Client, inspector_wenchang: User) -> None:
    client.force_login(inspector_wenchang)
    row = _row(client)
    client.post("/logout/")
    row.refresh_from_db()
    assert row.ended_at is not None
    assert row.ended_reason == SessionEnd.SIGNED_OUT


def test_the_idle_timeout_ends_the_tracked_session(
    client: Client, inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    from bihuan.accounts.middleware import SESSION_KEY

    settings.IDLE_TIMEOUT_MINUTES = 5
    client.force_login(inspector_wenchang)
    row = _row(client)
    session = client.session
    session[SESSION_KEY] = time.time() - 6 * 60
    session.save()
    client.get("/")
    row.refresh_from_db()
    assert row.ended_reason == SessionEnd.IDLE


def test_my_sessions_lists_mine_and_marks_this_one(
    inspector_wenchang: User, officer_market: User
) -> None:
    here = _signed_in_client(inspector_wenchang)
    _signed_in_client(inspector_wenchang)
    _signed_in_client(officer_market)
    response = here.get("/account/sessions/")
    rows = list(response.context["rows"])
    assert {r.user for r in rows} == {inspector_wenchang}
    assert len(rows) == 2
    assert response.context["current"] == _row(here).pk


def test_idle_sessions_are_not_listed_as_active(
    inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    here = _signed_in_client(inspector_wenchang)
    gone = _signed_in_client(inspector_wenchang)
    UserSession.objects.filter(pk=_row(gone).pk).update(
        last_seen_at=sessions.idle_cutoff() - sessions.idle_cutoff().resolution * 1000
    )
    rows = list(here.get("/account/sessions/").context["rows"])
    assert [r.pk for r in rows] == [_row(here).pk]


def test_ending_my_other_session_signs_that_browser_out_with_a_message(
    inspector_wenchang: User,
) -> None:
    here = _signed_in_client(inspector_wenchang)
    there = _signed_in_client(inspector_wenchang)
    row = _row(there)
    there_key = there.session.session_key
    response = here.post(f"/sessions/{row.pk}/end/")
    assert response["Location"] == "/account/sessions/"
    row.refresh_from_db()
    assert row.ended_reason == SessionEnd.ENDED
    assert row.ended_by == inspector_wenchang
    assert not Session.objects.filter(session_key=there_key).exists()
    landed = there.get("/", follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert landed.redirect_chain == [("/login/?next=/", 302)]
    assert "Your session was ended from another session" in landed.content.decode()
    assert here.get("/").status_code == 200
    event = Event.objects.get(verb="session.ended")
    assert event.actor == inspector_wenchang
    assert event.object_id == str(row.pk)


def test_this_session_cannot_be_ended_from_itself(inspector_wenchang: User) -> None:
    here = _signed_in_client(inspector_wenchang)
    row = _row(here)
    here.post(f"/sessions/{row.pk}/end/")
    row.refresh_from_db()
    assert row.ended_at is None
    assert here.get("/").status_code == 200
    with pytest.raises(ServiceError):
        sessions.session_end(actor=inspector_wenchang, row=row, current=row.pk)


def test_security_admin_forces_a_session_out(admin_security: User, supervisor_city: User) -> None:
    admin = _signed_in_client(admin_security)
    target = _signed_in_client(supervisor_city)
    row = _row(target)
    response = admin.post(f"/sessions/{row.pk}/end/")
    assert response["Location"] == "/sessions/"
    row.refresh_from_db()
    assert (row.ended_reason, row.ended_by) == (SessionEnd.FORCED, admin_security)
    assert target.get("/")["Location"].startswith("/login/")
    assert Event.objects.get(verb="session.forced").actor == admin_security


def test_security_admin_signs_a_user_out_everywhere(
    admin_security: User, supervisor_city: User
) -> None:
    admin = _signed_in_client(admin_security)
    targets = [_signed_in_client(supervisor_city) for _ in range(3)]
    response = admin.post(f"/users/{supervisor_city.pk}/sessions/end/")
    assert response["Location"] == f"/users/{supervisor_city.pk}/"
    assert not UserSession.objects.filter(user=supervisor_city, ended_at__isnull=True).exists()
    assert all(t.get("/")["Location"].startswith("/login/") for t in targets)
    assert Event.objects.filter(verb="session.forced").count() == 3
    assert admin.get("/").status_code == 200


def test_security_admin_sees_everybodys_sessions_and_filters_by_user(
    admin_security: User, supervisor_city: User, inspector_wenchang: User
) -> None:
    admin = _signed_in_client(admin_security)
    _signed_in_client(supervisor_city)
    _signed_in_client(inspector_wenchang)
    everyone = {r.user for r in admin.get("/sessions/").context["page"]}
    assert {admin_security, supervisor_city, inspector_wenchang} <= everyone
    filtered = {r.user for r in admin.get("/sessions/?q=yangtiezhu").context["page"]}
    assert filtered == {inspector_wenchang}


PERSONAS = [
    "admin_system",
    "admin_audit",
    "supervisor_city",
    "coordinator_wenchang",
    "inspector_wenchang",
    "officer_market",
]


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_the_security_admin_sees_or_ends_other_peoples_sessions(
    persona: str, request: pytest.FixtureRequest, inspector_wenchang: User, officer_police: User
) -> None:
    actor = request.getfixturevalue(persona)
    client = _signed_in_client(actor)
    # Someone else's session, even one of a person the actor may see (the inspector for the
    # supervisor and coordinator).
    other = inspector_wenchang if actor != inspector_wenchang else officer_police
    target = _signed_in_client(other)
    row = _row(target)
    assert client.get("/sessions/").status_code == 404
    assert client.post(f"/sessions/{row.pk}/end/").status_code == 404
    assert client.post(f"/users/{other.pk}/sessions/end/").status_code == 404
    row.refresh_from_db()
    assert row.ended_at is None
    assert target.get("/").status_code == 200
    assert not Event.objects.filter(verb__startswith="session.").exists()
    with pytest.raises(NotAllowed):
        sessions.session_end(actor=actor, row=row)


def test_a_vanished_session_is_closed_at_its_next_request(
    admin_system: User, inspector_wenchang: User
) -> None:
    from bihuan.accounts import services

    client = _signed_in_client(inspector_wenchang)
    row = _row(client)
    services.user_set_active(actor=admin_system, user=inspector_wenchang, active=False)
    assert client.get("/")["Location"].startswith("/login/")
    row.refresh_from_db()
    assert row.ended_reason == SessionEnd.EXPIRED
