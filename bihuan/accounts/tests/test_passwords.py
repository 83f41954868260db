"""The password policy (等保 level 3) and the forced change of initial and reset passwords."""

from __future__ import annotations

import pytest
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils.translation import gettext
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts import services
from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo.data import DEMO_PASSWORD

GOOD = "Xiaogan#2026ok"
CLASSES = (
    "The password must mix at least %(n)d of: lower-case letters, upper-case letters, digits, "
    "other characters."
)


def _refusal(password: str, username: str = "yangtiezhu") -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        password_validation.validate_password(password, User(username=username))
    return caught.value


def _codes(error: ValidationError) -> set[str]:
    return {e.code for e in error.error_list if e.code}


def test_password_shorter_than_ten_characters_is_refused() -> None:
    error = _refusal("Ab1#xyz_9")
    assert _codes(error) == {"password_too_short"}
    assert "10" in error.messages[0]


def test_password_with_fewer_than_three_character_classes_is_refused() -> None:
    error = _refusal("abcdefgh1234")
    assert _codes(error) == {"password_too_simple"}
    assert error.messages == [gettext(CLASSES) % {"n": 3}]


def test_password_of_one_class_is_refused() -> None:
    assert _codes(_refusal("QWERTYUIOPASDF")) == {"password_too_simple"}


@pytest.mark.parametrize("password", ["yangtiezhu#2026A", "X1#YangTieZhu", "9!YANGTIEZHU"])
def test_password_containing_the_username_in_any_case_is_refused(password: str) -> None:
    error = _refusal(password)
    assert _codes(error) == {"password_has_username"}
    assert error.messages == [gettext("The password must not contain the username.")]


@pytest.mark.parametrize("password", ["Password123", "Qwerty123456", "Password1234"])
def test_common_password_is_refused(password: str) -> None:
    error = _refusal(password, username="someone")
    assert _codes(error) == {"password_too_common"}
    assert error.messages[0] != ""


def test_every_broken_rule_is_reported_at_once() -> None:
    error = _refusal("tiezhu1", username="tiezhu")
    assert _codes(error) == {"password_too_simple", "password_has_username", "password_too_short"}


@pytest.mark.parametrize("password", [GOOD, "长城Great-Wall-88", "correct horse Battery"])
def test_good_password_passes(password: str) -> None:
    password_validation.validate_password(password, User(username="yangtiezhu"))


def test_user_create_refuses_a_weak_initial_password(admin_system: User) -> None:
    events = Event.objects.count()
    with pytest.raises(ServiceError) as caught:
        services.user_create(actor=admin_system, username="newcomer", password="short1A")
    assert caught.value.field == "password"
    assert not User.objects.filter(username="newcomer").exists()
    assert Event.objects.count() == events


def test_own_change_requires_the_current_password(inspector_wenchang: User) -> None:
    with pytest.raises(ServiceError) as caught:
        services.user_change_own_password(
            user=inspector_wenchang, old_password="Not#The1Password", new_password=GOOD
        )
    assert caught.value.field == "old_password"
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.check_password(DEMO_PASSWORD)


def test_own_change_refuses_the_same_password(inspector_wenchang: User) -> None:
    with pytest.raises(ServiceError):
        services.user_change_own_password(
            user=inspector_wenchang, old_password=DEMO_PASSWORD, new_password=DEMO_PASSWORD
        )


def test_own_change_applies_the_policy(inspector_wenchang: User) -> None:
    with pytest.raises(ServiceError) as caught:
        services.user_change_own_password(
            user=inspector_wenchang, old_password=DEMO_PASSWORD, new_password="Yangtiezhu#2026"
        )
    assert caught.value.message == gettext("The password must not contain the username.")


def test_own_change_clears_the_forced_change_and_is_recorded(inspector_wenchang: User) -> None:
    services.user_change_own_password(
        user=inspector_wenchang, old_password=DEMO_PASSWORD, new_password=GOOD
    )
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.check_password(GOOD)
    assert inspector_wenchang.must_change_password is False
    assert inspector_wenchang.password_changed_at is not None
    event = Event.objects.get(verb="user.password_changed")
    assert event.actor == inspector_wenchang


def test_admin_reset_sets_must_change_password_again(
    admin_system: User, inspector_wenchang: User
) -> None:
    services.user_change_own_password(
        user=inspector_wenchang, old_password=DEMO_PASSWORD, new_password=GOOD
    )
    services.user_reset_password(
        actor=admin_system, user=inspector_wenchang, password="Reset#2026ab"
    )
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.must_change_password is True
    assert inspector_wenchang.check_password("Reset#2026ab")
    event = Event.objects.get(verb="user.password_reset")
    assert event.actor == admin_system
    assert event.object_id == str(inspector_wenchang.pk)


def test_admin_reset_applies_the_policy(admin_system: User, inspector_wenchang: User) -> None:
    with pytest.raises(ServiceError):
        services.user_reset_password(actor=admin_system, user=inspector_wenchang, password="abc")
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.check_password(DEMO_PASSWORD)


def test_security_admin_may_not_reset_passwords(
    admin_security: User, inspector_wenchang: User
) -> None:
    with pytest.raises(NotAllowed):
        services.user_reset_password(
            actor=admin_security, user=inspector_wenchang, password="Reset#2026ab"
        )
    assert not Event.objects.filter(verb="user.password_reset").exists()


@pytest.fixture
def not_demo(settings: SettingsWrapper) -> None:
    settings.BIHUAN_DEMO = False


def test_initial_password_sends_every_page_to_the_change_page(
    client: Client, coordinator_wenchang: User, not_demo: None
) -> None:
    pages = ["/", "/territory/regions/", "/territory/areas/", "/departments/", "/users/"]
    client.force_login(coordinator_wenchang)
    answers = {}
    for path in pages:
        response = client.get(path)
        answers[path] = (response.status_code, response.get("Location"))
    assert answers == dict.fromkeys(pages, (302, "/password/"))


def test_with_an_initial_password_the_change_page_and_sign_out_stay_open(
    client: Client, coordinator_wenchang: User, not_demo: None
) -> None:
    client.force_login(coordinator_wenchang)
    assert client.get("/password/").status_code == 200
    assert client.get("/healthz").status_code == 200
    response = client.post("/logout/")
    assert response["Location"] == "/login/"


def test_invalid_change_keeps_the_user_on_the_change_page(
    client: Client, coordinator_wenchang: User, not_demo: None
) -> None:
    client.force_login(coordinator_wenchang)
    response = client.post(
        "/password/",
        {"old_password": DEMO_PASSWORD, "password": "short", "password_again": "short"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert client.get("/")["Location"] == "/password/"


def test_after_a_valid_change_the_user_reaches_home(
    client: Client, coordinator_wenchang: User, not_demo: None
) -> None:
    client.force_login(coordinator_wenchang)
    response = client.post(
        "/password/", {"old_password": DEMO_PASSWORD, "password": GOOD, "password_again": GOOD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "赵丽" in home.content.decode()
    coordinator_wenchang.refresh_from_db()
    assert coordinator_wenchang.must_change_password is False


def test_demo_accounts_in_demo_mode_are_exempt(
    client: Client, coordinator_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.BIHUAN_DEMO = True
    assert coordinator_wenchang.must_change_password is True
    client.force_login(coordinator_wenchang)
    assert client.get("/").status_code == 200


def test_other_accounts_in_demo_mode_must_change(
    client: Client, admin_system: User, settings: SettingsWrapper
) -> None:
    settings.BIHUAN_DEMO = True
    newcomer = services.user_create(
        actor=admin_system, username="newcomer", password="Initial#2026x", display_name="新人"
    )
    client.force_login(newcomer)
    assert client.get("/")["Location"] == "/password/"
