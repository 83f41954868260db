"""Sign-in, lockout after repeated failures, sign-out and the idle timeout (等保 8.1.4.1)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.translation import gettext
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts import services
from bihuan.accounts.middleware import SESSION_KEY
from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.context import client_ip
from bihuan.demo.data import DEMO_PASSWORD

IP = "10.20.30.40"
WRONG = "Wrong#Password1"


@pytest.fixture
def from_ip() -> Iterator[str]:
    """Service calls made as if during a request from IP."""
    token = client_ip.set(IP)
    yield IP
    client_ip.reset(token)


def _verbs(user: User) -> list[str]:
    rows = Event.objects.filter(object_type="accounts.user", object_id=str(user.pk))
    return list(rows.order_by("id").values_list("verb", flat=True))


def _fail(user: User, times: int) -> services.LoginResult:
    result = services.LoginResult(None)
    for _ in range(times):
        result = services.login_attempt(username=user.username, password=WRONG)
    return result


def test_right_password_signs_in_and_resets_the_failure_count(
    inspector_wenchang: User, from_ip: str
) -> None:
    _fail(inspector_wenchang, 2)
    result = services.login_attempt(username="YangTieZhu", password=DEMO_PASSWORD)
    assert result.user == inspector_wenchang
    assert result.error == ""
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.failed_logins == 0
    assert inspector_wenchang.last_login is not None


def test_success_writes_an_event_with_the_ip(inspector_wenchang: User, from_ip: str) -> None:
    services.login_attempt(username="yangtiezhu", password=DEMO_PASSWORD)
    event = Event.objects.get(verb="login.succeeded")
    assert event.actor == inspector_wenchang
    assert event.ip == IP


def test_failure_writes_an_event_with_the_ip(inspector_wenchang: User, from_ip: str) -> None:
    _fail(inspector_wenchang, 1)
    event = Event.objects.get(verb="login.failed")
    assert event.object_id == str(inspector_wenchang.pk)
    assert event.actor_label == "yangtiezhu"
    assert event.ip == IP
    assert event.after == {"reason": "wrong_password"}


def test_unknown_user_gets_the_same_message_as_a_wrong_password(
    inspector_wenchang: User, from_ip: str
) -> None:
    wrong_password = services.login_attempt(username="yangtiezhu", password=WRONG)
    unknown_user = services.login_attempt(username="nobody-here", password=WRONG)
    assert wrong_password.user is None
    assert unknown_user.user is None
    assert unknown_user.error == wrong_password.error != ""
    event = Event.objects.get(verb="login.failed", actor_label="nobody-here")
    assert event.ip == IP
    assert event.after == {"reason": "unknown_user"}


def test_login_page_shows_the_same_error_for_unknown_user_and_wrong_password(
    client: Client, inspector_wenchang: User
) -> None:
    wrong = client.post("/login/", {"username": "yangtiezhu", "password": WRONG})
    unknown = client.post("/login/", {"username": "nobody-here", "password": WRONG})
    assert wrong.status_code == unknown.status_code == 200
    errors = wrong.context["form"].non_field_errors()
    assert list(errors) == list(unknown.context["form"].non_field_errors())
    assert len(errors) == 1
    assert errors[0] in wrong.content.decode()


def test_four_failures_do_not_lock(inspector_wenchang: User) -> None:
    _fail(inspector_wenchang, 4)
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.locked_until is None
    assert inspector_wenchang.failed_logins == 4


def test_five_failures_lock_the_account_for_ten_minutes(inspector_wenchang: User) -> None:
    before = timezone.now()
    _fail(inspector_wenchang, 5)
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.locked_until is not None
    window = inspector_wenchang.locked_until - before
    assert datetime.timedelta(minutes=10) <= window < datetime.timedelta(minutes=10, seconds=30)
    assert inspector_wenchang.is_locked


def test_each_failure_and_the_lock_write_events_with_the_ip(
    inspector_wenchang: User, from_ip: str
) -> None:
    _fail(inspector_wenchang, 5)
    assert _verbs(inspector_wenchang)[-5:] == ["login.failed"] * 4 + ["login.locked"]
    ips = Event.objects.filter(verb__in=["login.failed", "login.locked"]).values_list("ip")
    assert set(ips) == {(IP,)}


def test_threshold_and_window_come_from_the_settings(
    inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.LOCKOUT_THRESHOLD = 2
    settings.LOCKOUT_MINUTES = 3
    before = timezone.now()
    _fail(inspector_wenchang, 2)
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.locked_until is not None
    window = inspector_wenchang.locked_until - before
    assert datetime.timedelta(minutes=3) <= window < datetime.timedelta(minutes=3, seconds=30)


def test_right_password_is_refused_while_locked(inspector_wenchang: User, from_ip: str) -> None:
    _fail(inspector_wenchang, 5)
    result = services.login_attempt(username="yangtiezhu", password=DEMO_PASSWORD)
    assert result.user is None
    assert result.error != ""
    event = Event.objects.get(verb="login.refused_locked")
    assert event.object_id == str(inspector_wenchang.pk)
    assert event.ip == IP
    assert not Event.objects.filter(verb="login.succeeded").exists()


def test_right_password_is_accepted_after_the_lock_expires(inspector_wenchang: User) -> None:
    _fail(inspector_wenchang, 5)
    User.objects.filter(pk=inspector_wenchang.pk).update(
        locked_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    result = services.login_attempt(username="yangtiezhu", password=DEMO_PASSWORD)
    assert result.user == inspector_wenchang
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.locked_until is None


def test_locked_account_cannot_sign_in_through_the_page(
    client: Client, inspector_wenchang: User
) -> None:
    _fail(inspector_wenchang, 5)
    response = client.post("/login/", {"username": "yangtiezhu", "password": DEMO_PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_disabled_account_cannot_sign_in(
    admin_system: User, inspector_wenchang: User, from_ip: str
) -> None:
    services.user_set_active(actor=admin_system, user=inspector_wenchang, active=False)
    result = services.login_attempt(username="yangtiezhu", password=DEMO_PASSWORD)
    assert result.user is None
    assert result.error == services.login_attempt(username="nobody", password=WRONG).error
    event = Event.objects.filter(verb="login.failed", object_id=str(inspector_wenchang.pk)).get()
    assert event.after == {"reason": "inactive"}


def test_disabling_an_account_ends_its_open_session(
    client: Client, admin_system: User, inspector_wenchang: User
) -> None:
    client.force_login(inspector_wenchang)
    assert client.get("/").status_code == 200
    services.user_set_active(actor=admin_system, user=inspector_wenchang, active=False)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_signs_in_and_records_the_client_address(
    client: Client, inspector_wenchang: User
) -> None:
    response = client.post(
        "/login/", {"username": "yangtiezhu", "password": DEMO_PASSWORD}, REMOTE_ADDR=IP
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(inspector_wenchang.pk)
    assert Event.objects.get(verb="login.succeeded").ip == IP


def test_failed_login_through_the_page_records_the_client_address(
    client: Client, inspector_wenchang: User
) -> None:
    client.post("/login/", {"username": "yangtiezhu", "password": WRONG}, REMOTE_ADDR=IP)
    assert Event.objects.get(verb="login.failed").ip == IP


def test_next_on_the_same_site_is_followed(client: Client, inspector_wenchang: User) -> None:
    response = client.post(
        "/login/?next=/territory/regions/",
        {"username": "yangtiezhu", "password": DEMO_PASSWORD, "next": "/territory/regions/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/territory/regions/"


OTHER_SITES = [
    "https://evil.example/steal",
    "//evil.example/steal",
    "http://testserver.evil.example/",
    "javascript:alert(1)",
    "/\\evil.example",
]


def test_next_to_another_site_is_refused(client: Client, inspector_wenchang: User) -> None:
    landed = {}
    for target in OTHER_SITES:
        response = client.post(
            "/login/", {"username": "yangtiezhu", "password": DEMO_PASSWORD, "next": target}
        )
        landed[target] = (response.status_code, response["Location"])
        client.logout()
    assert landed == dict.fromkeys(OTHER_SITES, (302, "/"))


def test_logout_by_get_is_refused(client: Client, inspector_wenchang: User) -> None:
    client.force_login(inspector_wenchang)
    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200
    assert not Event.objects.filter(verb__startswith="logout.").exists()


def test_logout_by_post_ends_the_session_and_is_recorded(
    client: Client, inspector_wenchang: User
) -> None:
    client.force_login(inspector_wenchang)
    response = client.post("/logout/", REMOTE_ADDR=IP)
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    event = Event.objects.get(verb="logout.user")
    assert event.actor == inspector_wenchang
    assert event.ip == IP
    assert client.get("/")["Location"].startswith("/login/")


def _seen(client: Client, seconds_ago: float) -> None:
    session = client.session
    session[SESSION_KEY] = time.time() - seconds_ago
    session.save()


def test_idle_session_is_signed_out_and_sent_to_login(
    client: Client, inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.IDLE_TIMEOUT_MINUTES = 5
    client.force_login(inspector_wenchang)
    _seen(client, 5 * 60 + 10)
    response = client.get("/territory/regions/", REMOTE_ADDR=IP)
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/territory/regions/"
    assert "_auth_user_id" not in client.session
    event = Event.objects.get(verb="logout.idle")
    assert event.actor == inspector_wenchang
    assert event.ip == IP


def test_idle_sign_out_tells_the_user_why(
    client: Client, inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.IDLE_TIMEOUT_MINUTES = 5
    client.force_login(inspector_wenchang)
    _seen(client, 5 * 60 + 10)
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/login/?next=/", 302)]
    assert gettext("You were signed out after a period of inactivity.") in response.content.decode()


def test_recently_active_session_continues(
    client: Client, inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.IDLE_TIMEOUT_MINUTES = 5
    client.force_login(inspector_wenchang)
    _seen(client, 4 * 60)
    before = time.time()
    assert client.get("/").status_code == 200
    assert client.session[SESSION_KEY] >= before
    assert not Event.objects.filter(verb__startswith="logout.").exists()
