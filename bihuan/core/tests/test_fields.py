"""Encrypted fields and their hash columns in the database (bihuan.core.fields)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from bihuan.accounts.models import User
from bihuan.core.crypto import blind_index, keyring
from bihuan.core.crypto_services import with_hash_fields
from bihuan.territory.models import AreaResponsible

pytestmark = pytest.mark.django_db


def _raw(model: Any, pk: int, *columns: str) -> tuple[Any, ...]:
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {names} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return tuple(cursor.fetchone())


def test_a_saved_phone_reads_back_in_clear() -> None:
    user = User.objects.create(username="u1", phone="13800001234")
    assert User.objects.get(pk=user.pk).phone == "13800001234"


def test_the_row_holds_ciphertext_not_the_number() -> None:
    user = User.objects.create(username="u1", phone="13800001234")
    stored, digest = _raw(User, user.pk, "phone", "phone_hash")
    assert "13800001234" not in stored
    assert "00001234" not in stored
    assert stored.startswith(keyring().current_id + "$")
    assert digest == blind_index("13800001234", "phone")
    assert "13800001234" not in digest


def test_no_phone_is_stored_empty_with_no_hash() -> None:
    user = User.objects.create(username="u1")
    assert _raw(User, user.pk, "phone", "phone_hash") == ("", "")
    assert User.objects.filter(phone="").count() == 1


def test_the_hash_finds_the_exact_number_only() -> None:
    wanted = User.objects.create(username="u1", phone="13800001234")
    User.objects.create(username="u2", phone="13800001235")
    User.objects.create(username="u3", phone="")
    found = User.objects.filter(phone_hash=blind_index("138 0000 1234", "phone"))
    assert list(found) == [wanted]
    assert not User.objects.filter(phone_hash=blind_index("1380000123", "phone")).exists()


def test_changing_the_phone_on_save_changes_the_hash() -> None:
    user = User.objects.create(username="u1", phone="13800001234")
    user.phone = "13900005678"
    user.save(update_fields=with_hash_fields(User, ["phone"]))
    assert User.objects.get(phone_hash=blind_index("13900005678", "phone")) == user
    assert not User.objects.filter(phone_hash=blind_index("13800001234", "phone")).exists()


def test_bulk_create_and_bulk_update_write_ciphertext_and_hash() -> None:
    User.objects.bulk_create(
        [User(username="b1", phone="13800000001"), User(username="b2", phone="13800000002")]
    )
    rows = list(User.objects.filter(username__in=["b1", "b2"]).order_by("username"))
    for row in rows:
        row.phone = row.phone.replace("138", "139")
    User.objects.bulk_update(rows, with_hash_fields(User, ["phone"]))
    for row in rows:
        stored, digest = _raw(User, row.pk, "phone", "phone_hash")
        assert row.phone not in stored
        assert digest == blind_index(row.phone, "phone")
    assert User.objects.filter(phone_hash=blind_index("13900000002", "phone")).get().username == (
        "b2"
    )


def test_values_and_only_decrypt_too() -> None:
    user = User.objects.create(username="u1", phone="13800001234")
    assert User.objects.filter(pk=user.pk).values_list("phone", flat=True).get() == "13800001234"
    assert User.objects.only("pk").get(pk=user.pk).phone == "13800001234"


@pytest.mark.parametrize("lookup", ["icontains", "contains", "startswith", "iexact", "in"])
def test_a_lookup_the_ciphertext_cannot_answer_is_refused(lookup: str) -> None:
    value: Any = ["13800001234"] if lookup == "in" else "1380000"
    with pytest.raises(FieldError, match="encrypted"):
        User.objects.filter(**{f"phone__{lookup}": value})


def test_comparing_to_a_number_is_refused_rather_than_silently_empty() -> None:
    with pytest.raises(FieldError, match="hash"):
        User.objects.filter(phone="13800001234")


def test_masked_display_is_unchanged(demo_city: dict[str, int]) -> None:
    party = AreaResponsible.objects.get(phone_hash=blind_index("13800001001", "phone"))
    assert party.masked_phone == "138****1001"
    assert User.objects.get(username="admin").masked_phone == "139****0001"


def test_the_form_field_is_a_one_line_input_with_the_old_length() -> None:
    field = User._meta.get_field("phone").formfield()
    assert field.max_length == 20
    assert field.widget.input_type == "text"
