"""Passwords expire after PASSWORD_MAX_AGE_DAYS, and a new one may not repeat a recent one."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts import services
from bihuan.accounts.models import PasswordHistory, User
from bihuan.accounts.passwords import PasswordHistoryValidator
from bihuan.core.errors import ServiceError
from bihuan.demo.data import DEMO_PASSWORD

PASSWORDS = ["Xiaogan#2026a1", "Xiaogan#2026b2", "Xiaogan#2026c3", "Xiaogan#2026d4"]
PASSWORDS += ["Xiaogan#2026e5", "Xiaogan#2026f6"]


@pytest.fixture
def enforced(settings: SettingsWrapper) -> SettingsWrapper:
    """Demo mode off, so the personas are ordinary accounts; 90 days, 5 passwords."""
    settings.BIHUAN_DEMO = False
    settings.PASSWORD_MAX_AGE_DAYS = 90
    return settings


def _changed_days_ago(user: User, days: int) -> User:
    User.objects.filter(pk=user.pk).update(
        must_change_password=False,
        password_changed_at=timezone.now() - datetime.timedelta(days=days),
    )
    return User.objects.get(pk=user.pk)


def _change(user: User, old: str, new: str) -> None:
    services.user_change_own_password(user=user, old_password=old, new_password=new)


def test_a_password_older_than_the_maximum_age_sends_every_page_to_the_change_page(
    enforced: SettingsWrapper, inspector_wenchang: User, client: Client
) -> None:
    user = _changed_days_ago(inspector_wenchang, 91)
    client.force_login(user)
    response = client.get("/leads/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_change")


def test_the_change_page_says_the_password_has_expired(
    enforced: SettingsWrapper, inspector_wenchang: User, client: Client
) -> None:
    client.force_login(_changed_days_ago(inspector_wenchang, 91))
    with translation.override("en"):
        page = client.get(reverse("accounts:password_change"), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert b'id="password-expired"' in page.content


def test_a_password_younger_than_the_maximum_age_is_left_alone(
    enforced: SettingsWrapper, inspector_wenchang: User, client: Client
) -> None:
    client.force_login(_changed_days_ago(inspector_wenchang, 89))
    assert client.get("/").status_code == 200


def test_the_maximum_age_comes_from_the_setting(
    enforced: SettingsWrapper, inspector_wenchang: User
) -> None:
    user = _changed_days_ago(inspector_wenchang, 31)
    assert services.password_change_reason(user) is None
    enforced.PASSWORD_MAX_AGE_DAYS = 30
    assert services.password_change_reason(user) == "expired"


def test_an_account_without_a_recorded_change_counts_from_the_day_it_was_made(
    enforced: SettingsWrapper, inspector_wenchang: User
) -> None:
    User.objects.filter(pk=inspector_wenchang.pk).update(
        must_change_password=False,
        password_changed_at=None,
        date_joined=timezone.now() - datetime.timedelta(days=120),
    )
    assert services.password_change_reason(User.objects.get(pk=inspector_wenchang.pk)) == (
        "expired"
    )


def test_an_initial_password_is_named_as_such_rather_than_expired(
    enforced: SettingsWrapper, inspector_wenchang: User
) -> None:
    user = _changed_days_ago(inspector_wenchang, 400)
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    assert services.password_change_reason(User.objects.get(pk=user.pk)) == "initial"


def test_demo_accounts_in_demo_mode_never_expire(
    settings: SettingsWrapper, inspector_wenchang: User, client: Client
) -> None:
    settings.BIHUAN_DEMO = True
    user = _changed_days_ago(inspector_wenchang, 1000)
    assert user.is_demo
    client.force_login(user)
    assert client.get("/").status_code == 200


def test_changing_the_expired_password_lets_the_user_back_in(
    enforced: SettingsWrapper, inspector_wenchang: User, client: Client
) -> None:
    user = _changed_days_ago(inspector_wenchang, 91)
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": DEMO_PASSWORD, "password": PASSWORDS[0], "password_again": PASSWORDS[0]},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert services.password_change_reason(User.objects.get(pk=user.pk)) is None


def test_a_new_password_may_not_repeat_any_of_the_last_five(
    enforced: SettingsWrapper, inspector_wenchang: User
) -> None:
    old = DEMO_PASSWORD
    for new in PASSWORDS[:5]:
        _change(inspector_wenchang, old, new)
        old = new
    for reused in PASSWORDS[:4]:
        with pytest.raises(ServiceError) as caught:
            _change(inspector_wenchang, old, reused)
        assert caught.value.field == "password"
    assert User.objects.get(pk=inspector_wenchang.pk).check_password(PASSWORDS[4])


def test_the_sixth_password_back_may_be_used_again(
    enforced: SettingsWrapper, inspector_wenchang: User
) -> None:
    old = DEMO_PASSWORD
    for new in PASSWORDS[:5]:
        _change(inspector_wenchang, old, new)
        old = new
    _change(inspector_wenchang, old, DEMO_PASSWORD)
    assert User.objects.get(pk=inspector_wenchang.pk).check_password(DEMO_PASSWORD)


def test_an_administrators_reset_may_not_reuse_a_recent_password(
    enforced: SettingsWrapper, admin_system: User, inspector_wenchang: User
) -> None:
    _change(inspector_wenchang, DEMO_PASSWORD, PASSWORDS[0])
    with pytest.raises(ServiceError):
        services.user_reset_password(
            actor=admin_system, user=inspector_wenchang, password=DEMO_PASSWORD
        )


def test_a_console_change_is_remembered(inspector_wenchang: User) -> None:
    before = PasswordHistory.objects.filter(user=inspector_wenchang).count()
    inspector_wenchang.set_password(PASSWORDS[0])
    inspector_wenchang.save()
    rows = PasswordHistory.objects.filter(user=inspector_wenchang).order_by("-created_at", "-pk")
    assert rows.count() == before + 1
    assert rows[0].password == inspector_wenchang.password
    with pytest.raises(ValidationError) as caught:
        password_validation.validate_password(PASSWORDS[0], inspector_wenchang)
    assert {e.code for e in caught.value.error_list} == {"password_reused"}


def test_the_current_password_is_refused_even_when_no_history_was_kept(db: None) -> None:
    user = User(username="console", password=make_password(PASSWORDS[0]))
    with pytest.raises(ValidationError):
        PasswordHistoryValidator(count=5).validate(PASSWORDS[0], user)


def test_a_history_of_zero_turns_the_rule_off(inspector_wenchang: User) -> None:
    PasswordHistoryValidator(count=0).validate(DEMO_PASSWORD, inspector_wenchang)
