"""三员: no administrator takes over another's account; Django's superuser flag makes no fourth."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from bihuan.accounts import services
from bihuan.accounts.models import User
from bihuan.accounts.policies import capabilities_of
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed


def test_system_admin_cannot_reset_the_auditors_password(
    admin_system: User, admin_audit: User
) -> None:
    before = (User.objects.get(pk=admin_audit.pk).password, Event.objects.count())
    with pytest.raises(NotAllowed):
        services.user_reset_password(actor=admin_system, user=admin_audit, password="Xy7#kLm9pQ2")
    assert (User.objects.get(pk=admin_audit.pk).password, Event.objects.count()) == before


def test_system_admin_cannot_disable_the_security_admin(
    admin_system: User, admin_security: User
) -> None:
    with pytest.raises(NotAllowed):
        services.user_set_active(actor=admin_system, user=admin_security, active=False)
    assert User.objects.get(pk=admin_security.pk).is_active


def test_system_admin_still_resets_an_inspectors_password(
    admin_system: User, inspector_wenchang: User
) -> None:
    services.user_reset_password(
        actor=admin_system, user=inspector_wenchang, password="Xy7#kLm9pQ2"
    )
    assert User.objects.get(pk=inspector_wenchang.pk).must_change_password


@pytest.mark.parametrize("target", ["admin_security", "admin_audit"])
@pytest.mark.parametrize("change", ["reset", "disable"])
def test_system_admin_cannot_take_over_either_other_administrator(
    request: pytest.FixtureRequest, admin_system: User, target: str, change: str
) -> None:
    other: User = request.getfixturevalue(target)
    before = (
        User.objects.filter(pk=other.pk).values_list("password", "is_active").get(),
        Event.objects.count(),
    )
    with pytest.raises(NotAllowed):
        if change == "reset":
            services.user_reset_password(actor=admin_system, user=other, password="Xy7#kLm9pQ2")
        else:
            services.user_set_active(actor=admin_system, user=other, active=False)
    after = (
        User.objects.filter(pk=other.pk).values_list("password", "is_active").get(),
        Event.objects.count(),
    )
    assert after == before


def test_djangos_superuser_flag_grants_nothing(client: Client, demo_city: dict[str, int]) -> None:
    # A console `createsuperuser` must not become a fourth, all-powerful administrator.
    root = User.objects.create_superuser(
        "root", password="Root#2026xyz", must_change_password=False
    )
    assert capabilities_of(root) == frozenset()
    client.force_login(root)
    assert client.get(reverse("audit:events")).status_code == 404
    assert client.get(reverse("accounts:users")).status_code == 404
