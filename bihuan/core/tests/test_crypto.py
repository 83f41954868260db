"""Encryption of personal numbers and their search hash (bihuan.core.crypto), no database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from bihuan.core import crypto

OLD_KEY = crypto.generate_encryption_key()
NEW_KEY = crypto.generate_encryption_key()


def test_a_value_round_trips() -> None:
    assert crypto.decrypt(crypto.encrypt("13800001234")) == "13800001234"


def test_the_stored_form_names_the_key_and_hides_the_number() -> None:
    stored = crypto.encrypt("13800001234")
    assert stored.startswith(crypto.keyring().current_id + "$")
    assert "13800001234" not in stored
    assert "0000" not in stored.split("$", 1)[0]


def test_equal_numbers_give_different_ciphertexts() -> None:
    assert crypto.encrypt("13800001234") != crypto.encrypt("13800001234")


def test_text_from_before_encryption_reads_as_it_is() -> None:
    assert crypto.decrypt("13800001234") == "13800001234"
    assert not crypto.is_encrypted("13800001234")


def test_an_older_key_still_decrypts_its_values() -> None:
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        stored = crypto.encrypt("13800001234")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert crypto.decrypt(stored) == "13800001234"
        assert crypto.stored_key_id(stored) != crypto.keyring().current_id
        assert crypto.stored_key_id(crypto.encrypt("1")) == crypto.keyring().current_id


def test_a_value_under_a_removed_key_fails_loudly_without_showing_it() -> None:
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        stored = crypto.encrypt("13800001234")
    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]),
        pytest.raises(crypto.FieldKeyMissing) as caught,
    ):
        crypto.decrypt(stored)
    assert crypto.key_id(OLD_KEY.encode()) in str(caught.value)
    assert "13800001234" not in str(caught.value)


def test_an_altered_ciphertext_is_refused() -> None:
    stored = crypto.encrypt("13800001234")
    altered = stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:]
    with pytest.raises(crypto.FieldKeyMissing):
        crypto.decrypt(altered)


def test_the_hash_is_the_same_for_every_way_of_writing_a_phone() -> None:
    forms = [
        "13800001234",
        "138 0000 1234",
        "138-0000-1234",
        "+86 138 0000 1234",
        "008613800001234",
    ]
    assert len({crypto.blind_index(f, "phone") for f in forms}) == 1


def test_the_hash_differs_for_another_number_and_for_another_key() -> None:
    digest = crypto.blind_index("13800001234", "phone")
    assert digest != crypto.blind_index("13800001235", "phone")
    with override_settings(FIELD_HASH_KEY="another-search-key-of-at-least-32-characters"):
        assert crypto.blind_index("13800001234", "phone") != digest


def test_the_hash_is_keyed_not_a_plain_digest() -> None:
    import hashlib

    digest = crypto.blind_index("13800001234", "phone")
    assert digest != hashlib.sha256(b"13800001234").hexdigest()
    assert digest != hashlib.sha256(b"phone:13800001234").hexdigest()


def test_an_empty_value_has_no_hash() -> None:
    assert crypto.blind_index("", "phone") == ""
    assert crypto.blind_index(None, "phone") == ""


@pytest.mark.parametrize(
    ("query", "is_phone"),
    [
        ("13800001234", True),
        ("138 0000 1234", True),
        ("+86 138-0000-1234", True),
        ("0712-2345678", True),
        ("138000", False),  # part of a number: cannot match an encrypted one
        ("启航教育", False),
        ("91420900MA4", False),
    ],
)
def test_a_search_is_a_phone_search_only_for_a_whole_number(query: str, is_phone: bool) -> None:
    assert (crypto.phone_query_hash(query) is not None) is is_phone


def test_keys_must_be_fernet_keys() -> None:
    with pytest.raises(ImproperlyConfigured, match="item 2 is not a Fernet key"):
        crypto.parse_encryption_keys([NEW_KEY, "not-a-key"])


def test_a_key_listed_twice_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="same key twice"):
        crypto.parse_encryption_keys([NEW_KEY, NEW_KEY])


def test_a_short_hash_key_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="at least 32"):
        crypto.check_hash_key("short")


def test_default_keys_come_from_the_secret_key_one_per_purpose() -> None:
    import base64

    secret = "s" * 25 + "t" * 25
    with override_settings(SECRET_KEY=secret, FIELD_ENCRYPTION_KEYS=[], FIELD_HASH_KEY=""):
        ring = crypto.keyring()
        encryption = base64.urlsafe_b64encode(crypto.derive_key(secret, "field-encryption"))
        assert ring.current_id == crypto.key_id(encryption)
        assert ring.hash_key == crypto.derive_key(secret, "field-hash")
        assert ring.hash_key != base64.urlsafe_b64decode(encryption)
