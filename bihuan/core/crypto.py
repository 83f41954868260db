"""Encryption at rest for personal numbers (phones, ID numbers) and their keyed search hash.

A value is encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``: a recipe
that is hard to misuse) under the newest of ``FIELD_ENCRYPTION_KEYS`` and stored as
``<key id>$<token>``. The key id (a fingerprint, never the key) says which key opens a value, so a
read never tries the keys in turn, and ``rotate_field_keys --check`` counts the values under old
keys with one query and no decryption. Older keys stay in the list until a rotation has moved every
value to the newest one.

Encryption is randomised, so two equal numbers never give equal ciphertexts and the database cannot
compare them. Exact search goes through a companion column instead: HMAC-SHA256 under a separate
key (``FIELD_HASH_KEY``) of the normalised value, labelled with its kind, so that a phone typed as
"+86 138-0000-1001" finds "13800001001". Someone with the table alone can neither read the number
nor confirm a guess.

Development and tests derive both keys from SECRET_KEY (HKDF with a label per purpose); production
requires them in the environment (config/settings/production.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_ID_LENGTH = 8
SEPARATOR = "$"
# Fernet tokens are URL-safe base64 of a version byte 0x80: they all start "gAAAAA".
_STORED = re.compile(r"^([0-9a-f]{8})\$(gAAAAA[A-Za-z0-9_\-=]+)$")
MIN_HASH_KEY_LENGTH = 32


class FieldKeyMissing(RuntimeError):
    """A stored value names a key that FIELD_ENCRYPTION_KEYS no longer holds."""


def derive_key(secret: str, label: str) -> bytes:
    """32 bytes for one purpose, derived from a secret with HKDF-SHA256."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"bihuan:{label}".encode()
    ).derive(secret.encode())


def generate_encryption_key() -> str:
    """A new key for FIELD_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode()


def key_id(key: bytes) -> str:
    """The public fingerprint of an encryption key, stored in front of each value."""
    return hashlib.sha256(b"bihuan-field-key:" + key).hexdigest()[:KEY_ID_LENGTH]


def parse_encryption_keys(
    values: Sequence[str], *, name: str = "FIELD_ENCRYPTION_KEYS"
) -> list[bytes]:
    """The configured Fernet keys, newest first; ImproperlyConfigured names a malformed one."""
    keys: list[bytes] = []
    for position, value in enumerate(values, start=1):
        try:
            raw = base64.urlsafe_b64decode(value.encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: item {position} is not a Fernet key (32 bytes in URL-safe base64); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            )
        keys.append(value.encode())
    if len({key_id(k) for k in keys}) != len(keys):
        raise ImproperlyConfigured(f"{name} lists the same key twice.")
    return keys


def check_hash_key(value: str, *, name: str = "FIELD_HASH_KEY") -> str:
    """The search-hash key if it is long enough; ImproperlyConfigured otherwise."""
    if len(value) < MIN_HASH_KEY_LENGTH or len(set(value)) < 5:
        raise ImproperlyConfigured(
            f"{name} must be at least {MIN_HASH_KEY_LENGTH} random characters."
        )
    return value


@dataclass(frozen=True)
class Keyring:
    """The keys in force: the newest encrypts, every one decrypts the values it encrypted."""

    current_id: str
    fernets: dict[str, Fernet]
    hash_key: bytes


@lru_cache(maxsize=8)
def _keyring_for(keys: tuple[str, ...], hash_key: str, secret: str) -> Keyring:
    if keys:
        encoded = parse_encryption_keys(keys)
    else:
        encoded = [base64.urlsafe_b64encode(derive_key(secret, "field-encryption"))]
    fernets = {key_id(k): Fernet(k) for k in encoded}
    search_key = hash_key.encode() if hash_key else derive_key(secret, "field-hash")
    return Keyring(current_id=key_id(encoded[0]), fernets=fernets, hash_key=search_key)


def keyring() -> Keyring:
    """The keys named by the settings (cached; a change of settings gives a new keyring)."""
    return _keyring_for(
        tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) or ()),
        getattr(settings, "FIELD_HASH_KEY", "") or "",
        settings.SECRET_KEY,
    )


def is_encrypted(stored: str) -> bool:
    """Does this stored text have the shape of an encrypted value (key id, then a token)?"""
    return bool(_STORED.match(stored))


def stored_key_id(stored: str) -> str:
    """The id of the key a stored value is under, or "" for text that is not encrypted."""
    found = _STORED.match(stored)
    return found.group(1) if found else ""


def encrypt(plaintext: str) -> str:
    """The stored form of a value, under the newest key."""
    ring = keyring()
    token = ring.fernets[ring.current_id].encrypt(plaintext.encode()).decode()
    return f"{ring.current_id}{SEPARATOR}{token}"


def decrypt(stored: str) -> str:
    """The value of a stored form; text written before encryption is returned as it is."""
    found = _STORED.match(stored)
    if found is None:
        # A row from before encryption (or before the data migration finished): plain text,
        # which the next rotation encrypts.
        return stored
    ring = keyring()
    fernet = ring.fernets.get(found.group(1))
    if fernet is None:
        raise FieldKeyMissing(
            f"A value is encrypted under key {found.group(1)}, which FIELD_ENCRYPTION_KEYS no "
            "longer lists: put the old key back (after the new one) and run rotate_field_keys."
        )
    try:
        return fernet.decrypt(found.group(2).encode()).decode()
    except InvalidToken:
        raise FieldKeyMissing(
            f"A value under key {found.group(1)} does not decrypt: "
            "the key or the value was changed."
        ) from None


def normalize_phone(value: str) -> str:
    """Digits of a phone number, without a +86/0086 country code: the form that is hashed."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", value or ""))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def normalize_id_number(value: str) -> str:
    """An identity document number in upper case without spaces or dashes."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value or "")).upper()


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "phone": normalize_phone,
    "id_number": normalize_id_number,
}


def blind_index(value: str | None, kind: str) -> str:
    """The keyed hash of a value for exact search; "" for an empty value."""
    normalized = NORMALIZERS[kind](value or "")
    if not normalized:
        return ""
    message = f"{kind}:{normalized}".encode()
    return hmac.new(keyring().hash_key, message, hashlib.sha256).hexdigest()


_PHONE_QUERY = re.compile(r"^[\d\s\-+()（）]+$")


def phone_query_hash(text: str) -> str | None:
    """The search hash of a query that is a whole phone number (7 to 20 digits), else None.

    Encrypted numbers match only in full: part of a number finds nothing, so it is not tried.
    """
    value = unicodedata.normalize("NFKC", text or "").strip()
    if not _PHONE_QUERY.match(value):
        return None
    digits = normalize_phone(value)
    if not 7 <= len(digits) <= 20:
        return None
    return blind_index(digits, "phone")
