"""The system administrator cannot take over another administrator's account (三员)."""

from __future__ import annotations

import pytest

from bihuan.accounts import services
from bihuan.accounts.models import User
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
