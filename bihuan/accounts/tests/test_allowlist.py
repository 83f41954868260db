"""ADMIN_IP_ALLOWLIST: the three administrators only from approved networks, nobody else."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts.allowlist import admin_network_refused
from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.demo.data import DEMO_PASSWORD

INSIDE = "10.20.3.4"
OUTSIDE = "203.0.113.9"
PROXY = "127.0.0.1"
ADMINS = ["admin_system", "admin_security", "admin_audit"]


@pytest.fixture
def allowlist(settings: SettingsWrapper) -> SettingsWrapper:
    settings.ADMIN_IP_ALLOWLIST = ["10.20.0.0/16", "2001:db8::/32"]
    return settings


def _sign_in(
    client: Client, user: User, ip: str, password: str = DEMO_PASSWORD, **meta: str
) -> Any:
    data = {"username": user.username, "password": password}
    return client.post(reverse("accounts:login"), data, **{"REMOTE_ADDR": ip, **meta})  # type: ignore[arg-type]


def _signed_in(client: Client, ip: str) -> bool:
    return client.get("/", REMOTE_ADDR=ip).status_code == 200


@pytest.mark.parametrize("persona", ADMINS)
def test_an_administrator_outside_the_networks_is_refused_at_sign_in_and_told_why(
    allowlist: SettingsWrapper, client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    admin: User = request.getfixturevalue(persona)
    with translation.override("en"):
        response = _sign_in(client, admin, OUTSIDE, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert b"Administrators may only sign in from the networks approved" in response.content
    assert not _signed_in(client, OUTSIDE)
    event = Event.objects.get(verb="login.refused_network")
    assert event.object_id == str(admin.pk)
    assert event.after == {"ip": OUTSIDE}
    assert not Event.objects.filter(verb="login.succeeded").exists()


@pytest.mark.parametrize("persona", ADMINS)
def test_an_administrator_inside_the_networks_signs_in(
    allowlist: SettingsWrapper, client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    admin: User = request.getfixturevalue(persona)
    assert _sign_in(client, admin, INSIDE).status_code == 302
    assert _signed_in(client, INSIDE)


def test_an_ipv6_address_inside_the_networks_is_let_in(
    allowlist: SettingsWrapper, admin_security: User
) -> None:
    assert not admin_network_refused(admin_security, "2001:db8:1::5")
    assert admin_network_refused(admin_security, "2001:db9::5")


def test_other_users_sign_in_from_anywhere(
    allowlist: SettingsWrapper, client: Client, supervisor_city: User
) -> None:
    assert _sign_in(client, supervisor_city, OUTSIDE).status_code == 302
    assert _signed_in(client, OUTSIDE)


def test_without_a_list_administrators_sign_in_from_anywhere(
    settings: SettingsWrapper, client: Client, admin_system: User
) -> None:
    settings.ADMIN_IP_ALLOWLIST = []
    assert _sign_in(client, admin_system, OUTSIDE).status_code == 302
    assert _signed_in(client, OUTSIDE)


def test_a_wrong_password_from_outside_does_not_reveal_an_administrator(
    allowlist: SettingsWrapper, client: Client, admin_system: User
) -> None:
    with translation.override("en"):
        response = _sign_in(
            client, admin_system, OUTSIDE, "Wrong#2026pw", HTTP_ACCEPT_LANGUAGE="en"
        )
    assert b"Wrong username or password." in response.content
    assert not Event.objects.filter(verb="login.refused_network").exists()


def test_a_session_used_from_outside_the_networks_is_signed_out(
    allowlist: SettingsWrapper, client: Client, admin_audit: User
) -> None:
    assert _sign_in(client, admin_audit, INSIDE).status_code == 302
    response = client.get("/audit/", REMOTE_ADDR=OUTSIDE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert Event.objects.filter(verb="logout.network", object_id=str(admin_audit.pk)).exists()
    assert not _signed_in(client, INSIDE)


def test_behind_a_trusted_proxy_the_forwarded_address_is_checked(
    allowlist: SettingsWrapper, client: Client, admin_system: User
) -> None:
    allowlist.TRUSTED_PROXIES = ["127.0.0.1/32"]
    response = _sign_in(client, admin_system, PROXY, HTTP_X_FORWARDED_FOR=OUTSIDE)
    assert response.status_code == 200
    assert Event.objects.get(verb="login.refused_network").after == {"ip": OUTSIDE}
    assert _sign_in(client, admin_system, PROXY, HTTP_X_FORWARDED_FOR=INSIDE).status_code == 302


def test_a_forwarded_address_written_by_the_client_is_not_believed(
    allowlist: SettingsWrapper, client: Client, admin_system: User
) -> None:
    allowlist.TRUSTED_PROXIES = ["127.0.0.1/32"]
    # The client claims an inside address; the proxy appends the address it really came from.
    forged = f"{INSIDE}, {OUTSIDE}"
    assert _sign_in(client, admin_system, PROXY, HTTP_X_FORWARDED_FOR=forged).status_code == 200
    # Without a trusted proxy the header is ignored altogether.
    allowlist.TRUSTED_PROXIES = []
    assert _sign_in(client, admin_system, OUTSIDE, HTTP_X_FORWARDED_FOR=INSIDE).status_code == 200
    assert Event.objects.filter(verb="login.refused_network").count() == 2
