"""Two-factor sign-in: enrolment, the code step, replay, recovery codes, lockout, removal, reset.

Codes are real TOTP codes computed from the device's key, as an authenticator app would.
"""

from __future__ import annotations

import time
from binascii import unhexlify

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts import otp, services
from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo.data import DEMO_PASSWORD


def code_for(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator shows for the secret, ``steps_ahead`` periods from now."""
    totp = TOTP(unhexlify(secret))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def enrol(user: User) -> tuple[str, list[str]]:
    """Set up a second factor for the user; the enrolment code uses up the current period."""
    secret = otp.new_secret()
    codes = otp.second_factor_enrol(user=user, secret=secret, code=code_for(secret))
    return secret, codes


def make_real(user: User) -> User:
    """The persona as a real (non-demo) account with its own password."""
    User.objects.filter(pk=user.pk).update(is_demo=False, must_change_password=False)
    user.refresh_from_db()
    return user


def sign_in_password(client: Client, user: User) -> str:
    response = client.post("/login/", {"username": user.username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    return response["Location"]


def sign_in_with_code(client: Client, user: User, secret: str) -> None:
    sign_in_password(client, user)
    assert client.post("/login/code/", {"code": code_for(secret, 1)}).status_code == 302


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# Enrolment


def test_enrolment_confirms_the_device_and_issues_ten_recovery_codes(
    inspector_wenchang: User,
) -> None:
    _, codes = enrol(inspector_wenchang)
    assert TOTPDevice.objects.get(user=inspector_wenchang).confirmed
    assert len(codes) == len(set(codes)) == 10
    assert otp.recovery_codes_left(inspector_wenchang) == 10
    event = Event.objects.get(verb="otp.enrolled")
    assert event.actor == inspector_wenchang


def test_enrolment_refuses_a_wrong_first_code(inspector_wenchang: User) -> None:
    secret = otp.new_secret()
    wrong = f"{(int(code_for(secret)) + 1) % 1_000_000:06d}"
    with pytest.raises(ServiceError):
        otp.second_factor_enrol(user=inspector_wenchang, secret=secret, code=wrong)
    assert not TOTPDevice.objects.filter(user=inspector_wenchang).exists()
    assert not Event.objects.filter(verb="otp.enrolled").exists()


def test_enrolment_page_shows_a_qr_code_and_the_key_then_the_recovery_codes(
    client: Client, inspector_wenchang: User
) -> None:
    client.force_login(inspector_wenchang)
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body
    secret = client.session[otp.ENROL_KEY]
    assert page.context["secret"].replace(" ", "") in body.replace(" ", "")
    done = client.post("/account/two-factor/", {"code": code_for(secret)})
    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    for code in done.context["codes"]:
        assert code in done.content.decode()
    assert TOTPDevice.objects.filter(user=inspector_wenchang, confirmed=True).exists()
    # The setting-up session counts as verified by the new device.
    assert client.session["otp_device_id"]
    assert otp.ENROL_KEY not in client.session


def test_enrolment_page_keeps_the_key_across_reloads_until_confirmed(
    client: Client, inspector_wenchang: User
) -> None:
    client.force_login(inspector_wenchang)
    first = client.get("/account/two-factor/").context["secret"]
    assert client.get("/account/two-factor/").context["secret"] == first
    assert not TOTPDevice.objects.filter(user=inspector_wenchang).exists()


def test_recovery_codes_are_shown_only_once(client: Client, inspector_wenchang: User) -> None:
    client.force_login(inspector_wenchang)
    client.get("/account/two-factor/")
    done = client.post("/account/two-factor/", {"code": code_for(client.session[otp.ENROL_KEY])})
    codes = done.context["codes"]
    later = client.get("/account/two-factor/").content.decode()
    assert not any(code in later for code in codes)


# The code step of the sign-in


def test_password_alone_does_not_sign_in_a_user_with_a_second_factor(
    client: Client, inspector_wenchang: User
) -> None:
    enrol(inspector_wenchang)
    assert sign_in_password(client, inspector_wenchang) == "/login/code/"
    assert not signed_in(client)
    assert client.get("/")["Location"].startswith("/login/")
    assert Event.objects.filter(verb="login.password_accepted").count() == 1
    assert not Event.objects.filter(verb="login.succeeded").exists()


def test_right_code_completes_the_sign_in(client: Client, inspector_wenchang: User) -> None:
    secret, _ = enrol(inspector_wenchang)
    sign_in_password(client, inspector_wenchang)
    response = client.post("/login/code/", {"code": code_for(secret, 1)})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(inspector_wenchang.pk)
    assert client.session["otp_device_id"]
    assert client.get("/").status_code == 200
    event = Event.objects.get(verb="login.succeeded")
    assert event.after == {"second_factor": "totp"}


def test_the_code_step_keeps_the_next_page(client: Client, inspector_wenchang: User) -> None:
    secret, _ = enrol(inspector_wenchang)
    client.post(
        "/login/?next=/territory/regions/",
        {"username": "yangtiezhu", "password": DEMO_PASSWORD, "next": "/territory/regions/"},
    )
    response = client.post("/login/code/", {"code": code_for(secret, 1)})
    assert response["Location"] == "/territory/regions/"


def test_wrong_code_is_refused_and_counted(client: Client, inspector_wenchang: User) -> None:
    secret, _ = enrol(inspector_wenchang)
    sign_in_password(client, inspector_wenchang)
    wrong = f"{(int(code_for(secret, 1)) + 1) % 1_000_000:06d}"
    response = client.post("/login/code/", {"code": wrong}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "That code is not right." in response.content.decode()
    assert not signed_in(client)
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.failed_logins == 1
    assert Event.objects.get(verb="login.failed").after == {"reason": "wrong_code"}


def test_replayed_code_is_refused(client: Client, inspector_wenchang: User) -> None:
    secret, _ = enrol(inspector_wenchang)
    code = code_for(secret, 1)
    sign_in_password(client, inspector_wenchang)
    assert client.post("/login/code/", {"code": code}).status_code == 302
    client.post("/logout/")
    sign_in_password(client, inspector_wenchang)
    response = client.post("/login/code/", {"code": code})
    assert response.status_code == 200
    assert not signed_in(client)


def test_the_enrolment_code_cannot_be_used_to_sign_in(inspector_wenchang: User) -> None:
    secret = otp.new_secret()
    code = code_for(secret)
    otp.second_factor_enrol(user=inspector_wenchang, secret=secret, code=code)
    assert otp.second_factor_check(user=inspector_wenchang, code=code).device is None


def test_recovery_code_signs_in_once(client: Client, inspector_wenchang: User) -> None:
    _, codes = enrol(inspector_wenchang)
    written = f"{codes[0][:4]}-{codes[0][4:]}".upper()
    sign_in_password(client, inspector_wenchang)
    assert client.post("/login/code/", {"code": written}).status_code == 302
    assert otp.recovery_codes_left(inspector_wenchang) == 9
    assert Event.objects.get(verb="login.succeeded").after == {"second_factor": "recovery_code"}
    client.post("/logout/")
    sign_in_password(client, inspector_wenchang)
    assert client.post("/login/code/", {"code": written}).status_code == 200
    assert not signed_in(client)


def test_code_page_without_a_password_step_goes_back_to_sign_in(
    client: Client, inspector_wenchang: User
) -> None:
    assert client.get("/login/code/")["Location"] == "/login/"


def test_waiting_for_the_code_expires(client: Client, inspector_wenchang: User) -> None:
    secret, _ = enrol(inspector_wenchang)
    sign_in_password(client, inspector_wenchang)
    session = client.session
    user_id, since, target = session[otp.PENDING_KEY]
    session[otp.PENDING_KEY] = [user_id, since - otp.PENDING_SECONDS - 1, target]
    session.save()
    response = client.post("/login/code/", {"code": code_for(secret, 1)})
    assert response["Location"] == "/login/"
    assert not signed_in(client)


# Lockout


def test_repeated_wrong_codes_lock_the_account(
    client: Client, inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.LOCKOUT_THRESHOLD = 3
    secret, _ = enrol(inspector_wenchang)
    sign_in_password(client, inspector_wenchang)
    for _ in range(2):
        assert client.post("/login/code/", {"code": "000000"}).status_code == 200
    locked = client.post("/login/code/", {"code": "000000"})
    assert locked["Location"] == "/login/"
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.is_locked
    assert Event.objects.filter(verb="login.locked", after={"reason": "wrong_code"}).exists()
    # Neither the password nor a right code gets through now.
    assert client.post("/login/code/", {"code": code_for(secret, 1)})["Location"] == "/login/"
    assert services.login_attempt(username="yangtiezhu", password=DEMO_PASSWORD).user is None
    assert otp.second_factor_check(user=inspector_wenchang, code=code_for(secret, 1)).locked


def test_a_right_password_does_not_reset_the_count_of_wrong_codes(
    inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.LOCKOUT_THRESHOLD = 3
    enrol(inspector_wenchang)
    for _ in range(3):
        result = services.login_attempt(username="yangtiezhu", password=DEMO_PASSWORD)
        assert result.second_factor
        otp.second_factor_check(user=inspector_wenchang, code="000000")
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.is_locked


# Removal by the user, reset by the security administrator


def test_user_removes_the_second_factor_with_a_current_code(
    client: Client, inspector_wenchang: User
) -> None:
    secret, codes = enrol(inspector_wenchang)
    sign_in_with_code(client, inspector_wenchang, secret)
    # The current period's TOTP code was used to sign in; a recovery code is a current code too.
    response = client.post("/account/two-factor/remove/", {"code": codes[0]})
    assert response["Location"] == "/account/two-factor/"
    assert not TOTPDevice.objects.filter(user=inspector_wenchang).exists()
    assert not StaticToken.objects.filter(device__user=inspector_wenchang).exists()
    event = Event.objects.get(verb="otp.disabled")
    assert event.actor == inspector_wenchang
    assert event.before == {"devices": [otp.TOTP_NAME, otp.RECOVERY_NAME]}


def test_removal_needs_a_right_code(client: Client, inspector_wenchang: User) -> None:
    secret, _ = enrol(inspector_wenchang)
    sign_in_with_code(client, inspector_wenchang, secret)
    response = client.post("/account/two-factor/remove/", {"code": "000000"})
    assert response["Location"] == "/account/two-factor/"
    assert otp.has_second_factor(inspector_wenchang)
    assert not Event.objects.filter(verb="otp.disabled").exists()


def test_security_admin_resets_a_second_factor(
    client: Client, admin_security: User, inspector_wenchang: User
) -> None:
    enrol(inspector_wenchang)
    client.force_login(admin_security)
    response = client.post(f"/users/{inspector_wenchang.pk}/two-factor/reset/")
    assert response["Location"] == f"/users/{inspector_wenchang.pk}/"
    assert not otp.has_second_factor(inspector_wenchang)
    event = Event.objects.get(verb="otp.reset")
    assert event.actor == admin_security
    assert event.object_id == str(inspector_wenchang.pk)


@pytest.mark.parametrize("actor", ["admin_system", "admin_audit", "supervisor_city"])
def test_only_the_security_admin_resets_a_second_factor(
    client: Client, actor: str, inspector_wenchang: User, request: pytest.FixtureRequest
) -> None:
    enrol(inspector_wenchang)
    client.force_login(request.getfixturevalue(actor))
    assert client.post(f"/users/{inspector_wenchang.pk}/two-factor/reset/").status_code == 404
    assert otp.has_second_factor(inspector_wenchang)
    assert not Event.objects.filter(verb="otp.reset").exists()


def test_service_refuses_a_reset_without_the_capability(
    admin_system: User, inspector_wenchang: User
) -> None:
    enrol(inspector_wenchang)
    with pytest.raises(NotAllowed):
        otp.second_factor_reset(actor=admin_system, user=inspector_wenchang)
    assert otp.has_second_factor(inspector_wenchang)


def test_security_admin_cannot_reset_their_own_second_factor(admin_security: User) -> None:
    enrol(admin_security)
    with pytest.raises(ServiceError):
        otp.second_factor_reset(actor=admin_security, user=admin_security)
    assert otp.has_second_factor(admin_security)


def test_a_reset_unverifies_the_users_open_sessions(
    client: Client, admin_security: User, inspector_wenchang: User
) -> None:
    secret, _ = enrol(inspector_wenchang)
    sign_in_password(client, inspector_wenchang)
    client.post("/login/code/", {"code": code_for(secret, 1)})
    otp.second_factor_reset(actor=admin_security, user=inspector_wenchang)
    assert client.get("/").status_code == 200
    assert "otp_device_id" not in client.session


# Who must have a second factor


def test_required_roles_come_from_the_setting(
    supervisor_city: User, inspector_wenchang: User, settings: SettingsWrapper
) -> None:
    settings.BIHUAN_DEMO = False
    assert otp.second_factor_required(supervisor_city)
    assert not otp.second_factor_required(inspector_wenchang)
    settings.OTP_REQUIRED_ROLES = ["inspector"]
    assert not otp.second_factor_required(supervisor_city)
    assert otp.second_factor_required(inspector_wenchang)


@pytest.mark.parametrize(
    "persona", ["admin_system", "admin_security", "admin_audit", "supervisor_city"]
)
def test_administrators_and_supervisors_must_have_a_second_factor(
    persona: str, request: pytest.FixtureRequest, settings: SettingsWrapper
) -> None:
    settings.BIHUAN_DEMO = False
    assert otp.second_factor_required(request.getfixturevalue(persona))


def test_an_unknown_required_role_fails_the_system_check(settings: SettingsWrapper) -> None:
    assert otp.check_required_roles() == []
    settings.OTP_REQUIRED_ROLES = ["supervisor", "superviser"]
    [error] = otp.check_required_roles()
    assert error.id == "accounts.E101"
    assert "superviser" in error.msg


def test_demo_accounts_in_demo_mode_are_exempt(supervisor_city: User) -> None:
    assert not otp.second_factor_required(supervisor_city)


def test_an_enrolled_demo_account_still_needs_its_code(
    client: Client, supervisor_city: User
) -> None:
    enrol(supervisor_city)
    assert sign_in_password(client, supervisor_city) == "/login/code/"
    assert not signed_in(client)


def test_required_user_without_a_second_factor_reaches_only_enrolment(
    client: Client, supervisor_city: User, settings: SettingsWrapper
) -> None:
    settings.BIHUAN_DEMO = False
    make_real(supervisor_city)
    assert sign_in_password(client, supervisor_city) == "/"
    for path in ["/", "/leads/", "/users/", "/account/sessions/", "/api/v1/"]:
        assert client.get(path)["Location"] == "/account/two-factor/", path
    assert client.get("/account/two-factor/").status_code == 200
    secret = client.session[otp.ENROL_KEY]
    assert client.post("/account/two-factor/", {"code": code_for(secret)}).status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/leads/").status_code == 200


def test_required_user_may_still_sign_out(
    client: Client, supervisor_city: User, settings: SettingsWrapper
) -> None:
    settings.BIHUAN_DEMO = False
    make_real(supervisor_city)
    sign_in_password(client, supervisor_city)
    assert client.post("/logout/")["Location"] == "/login/"
    assert not signed_in(client)


def test_an_unverified_session_of_a_user_with_a_second_factor_must_sign_in_again(
    client: Client, supervisor_city: User, settings: SettingsWrapper
) -> None:
    settings.BIHUAN_DEMO = False
    make_real(supervisor_city)
    client.force_login(supervisor_city)
    # The device appears behind this session's back (enrolled from another one).
    enrol(supervisor_city)
    assert client.get("/")["Location"].startswith("/login/")
    assert not signed_in(client)


def test_enrolling_signs_out_the_users_other_sessions(inspector_wenchang: User) -> None:
    other, here = Client(), Client()
    other.force_login(inspector_wenchang)
    here.force_login(inspector_wenchang)
    here.get("/account/two-factor/")
    here.post("/account/two-factor/", {"code": code_for(here.session[otp.ENROL_KEY])})
    assert here.get("/").status_code == 200
    assert other.get("/")["Location"].startswith("/login/")
