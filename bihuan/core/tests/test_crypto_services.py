"""Key rotation of encrypted fields: the service and ``manage.py rotate_field_keys``."""

from __future__ import annotations

import base64
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core import crypto
from bihuan.core.crypto_services import field_keys_rotate, model_reencrypt, stale_count
from bihuan.demo.data import XIAOGAN
from bihuan.leads.models import Lead
from bihuan.registry.models import Institution
from bihuan.territory.models import AreaResponsible, Region

pytestmark = pytest.mark.django_db

OLD_KEY = crypto.generate_encryption_key()
NEW_KEY = crypto.generate_encryption_key()


def _stored_phone(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM accounts_user WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def _users_under_old_key(settings: SettingsWrapper, count: int = 3) -> list[User]:
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    users = [User.objects.create(username=f"r{i}", phone=f"1380000{i:04d}") for i in range(count)]
    User.objects.create(username="nophone")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    return users


def test_rotation_moves_every_value_to_the_newest_key(settings: SettingsWrapper) -> None:
    users = _users_under_old_key(settings)
    assert stale_count(User) == 3
    assert model_reencrypt(User, batch_size=2) == 3
    assert stale_count(User) == 0
    new_id = crypto.key_id(NEW_KEY.encode())
    assert all(_stored_phone(u.pk).startswith(new_id + "$") for u in users)


def test_after_rotation_the_old_key_can_be_removed(settings: SettingsWrapper) -> None:
    users = _users_under_old_key(settings)
    field_keys_rotate()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert [User.objects.get(pk=u.pk).phone for u in users] == [u.phone for u in users]
    found = User.objects.get(phone_hash=crypto.blind_index("13800000002", "phone"))
    assert found.username == "r2"


def test_removing_the_old_key_before_rotating_is_caught_on_read(
    settings: SettingsWrapper,
) -> None:
    users = _users_under_old_key(settings)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(crypto.FieldKeyMissing):
        User.objects.get(pk=users[0].pk)


def test_rotation_is_idempotent(settings: SettingsWrapper) -> None:
    users = _users_under_old_key(settings)
    field_keys_rotate()
    stored = _stored_phone(users[0].pk)
    assert field_keys_rotate()["accounts.user"] == 0
    assert _stored_phone(users[0].pk) == stored


def test_rotation_encrypts_plain_text_left_from_before(settings: SettingsWrapper) -> None:
    user = User.objects.create(username="legacy")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_user SET phone = %s WHERE id = %s", ["13800009999", user.pk]
        )
    assert User.objects.get(pk=user.pk).phone == "13800009999"
    assert stale_count(User) == 1
    field_keys_rotate()
    assert "13800009999" not in _stored_phone(user.pk)
    assert User.objects.get(phone_hash=crypto.blind_index("13800009999", "phone")) == user


def test_all_rewrites_the_hashes_under_a_new_hash_key(settings: SettingsWrapper) -> None:
    user = User.objects.create(username="h", phone="13800001234")
    settings.FIELD_HASH_KEY = "a-new-search-key-with-more-than-32-characters"
    assert not User.objects.filter(phone_hash=crypto.blind_index("13800001234", "phone")).exists()
    assert field_keys_rotate()["accounts.user"] == 0  # the key did not change: nothing stale
    assert field_keys_rotate(everything=True)["accounts.user"] == 1
    assert User.objects.get(phone_hash=crypto.blind_index("13800001234", "phone")) == user


def test_rotation_covers_every_model_with_an_encrypted_field(
    settings: SettingsWrapper, demo_city: dict[str, int]
) -> None:
    # The demo city was written under the key derived from SECRET_KEY (no keys configured).
    derived = base64.urlsafe_b64encode(crypto.derive_key(settings.SECRET_KEY, "field-encryption"))
    institution = Institution.objects.create(
        name="启航教育", region=Region.objects.get(code=XIAOGAN), contact_phone="07122345678"
    )
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, derived.decode()]
    counts = field_keys_rotate()
    assert set(counts) == {
        "accounts.user",
        "intake.publictip",
        "leads.lead",
        "registry.institution",
        "territory.arearesponsible",
    }
    assert counts["accounts.user"] == User.objects.exclude(phone="").count() > 0
    assert counts["territory.arearesponsible"] > 0
    assert counts["registry.institution"] == 1
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    for model in (User, Institution, AreaResponsible, Lead):
        assert stale_count(model) == 0
        list(model.objects.all())  # every value decrypts with the new key alone
    assert Institution.objects.get(pk=institution.pk).contact_phone == "07122345678"


def test_rotation_is_audited_with_its_counts(settings: SettingsWrapper) -> None:
    _users_under_old_key(settings)
    field_keys_rotate()
    event = Event.objects.get(verb="crypto.field_keys_rotated")
    assert event.after is not None
    assert event.after["key_id"] == crypto.key_id(NEW_KEY.encode())
    assert event.after["rewritten"]["accounts.user"] == 3


def test_the_command_check_counts_without_changing(settings: SettingsWrapper) -> None:
    users = _users_under_old_key(settings)
    before = _stored_phone(users[0].pk)
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("rotate_field_keys", "--check", stdout=out)
    assert exit_.value.code == 1
    assert "accounts.user: 3 row(s)" in out.getvalue()
    assert _stored_phone(users[0].pk) == before


def test_the_command_rotates_and_reports_per_model(settings: SettingsWrapper) -> None:
    _users_under_old_key(settings)
    out = StringIO()
    call_command("rotate_field_keys", "--batch-size", "2", stdout=out)
    assert "accounts.user: 3 row(s) re-encrypted" in out.getvalue()
    check = StringIO()
    call_command("rotate_field_keys", "--check", stdout=check)
    assert "Total: 0 row(s) to rotate." in check.getvalue()


def test_the_command_explains_itself() -> None:
    from bihuan.core.management.commands.rotate_field_keys import Command

    help_text = Command().create_parser("manage.py", "rotate_field_keys").format_help()
    assert "--check" in help_text
    assert "--all" in help_text
    assert "FIELD_ENCRYPTION_KEYS" in help_text
