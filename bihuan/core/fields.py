"""Model fields for personal numbers: encrypted at rest, found by exact match through a keyed hash.

``EncryptedTextField`` stores the ciphertext of ``bihuan.core.crypto`` and gives the plain value
back on read; ``BlindIndexField`` beside it holds the keyed hash of the normalised value. The hash
is computed from the source field whenever it is read, so ``save()``, ``create()``,
``bulk_create()`` and ``bulk_update()`` (with the hash named among the fields) all write the hash
that matches the number; ``save(update_fields=...)`` and ``QuerySet.update()`` must name the hash
too. Search with ``filter(phone_hash=blind_index(text, "phone"))``.

The database cannot compare ciphertexts, so the encrypted field refuses every lookup but
``isnull``, ``exact`` with an empty value and ``key_id`` (used by key rotation): a
``phone__icontains`` would silently match nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull, Lookup

from bihuan.core import crypto
from bihuan.core.masking import mask_id_number, mask_phone


class EmptyOnlyExact(Exact):
    """``field=""`` (no number) is allowed; comparing to a number must go through the hash."""

    def get_prep_lookup(self) -> Any:
        if self.rhs not in ("", None):
            raise FieldError(
                f"{self.lhs.output_field.name} is encrypted: search it by exact match on its "
                "hash column with bihuan.core.crypto.blind_index()."
            )
        return super().get_prep_lookup()


class KeyId(Lookup):
    """Values stored under the key with this id (``phone__key_id=...``), for rotation."""

    lookup_name = "key_id"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s", [*lhs_params, f"{self.rhs}{crypto.SEPARATOR}%"]


class EncryptedTextField(models.TextField):
    """Text stored encrypted under the newest FIELD_ENCRYPTION_KEYS key, read back in clear."""

    _lookups = {"exact": EmptyOnlyExact, "isnull": IsNull, "key_id": KeyId}
    _masks = {"phone": mask_phone, "id_number": mask_id_number}

    def __init__(self, *args: Any, kind: str = "phone", **kwargs: Any) -> None:
        if kind not in self._masks:
            raise ValueError(f"Unknown kind of personal number: {kind!r}.")
        self.kind = kind
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.kind != "phone":
            kwargs["kind"] = self.kind
        return name, path, args, kwargs

    def masked(self, value: str | None) -> str:
        """The value as logs and the audit trail may hold it (138****1234)."""
        return self._masks[self.kind](value) if value else ""

    def get_lookup(self, lookup_name: str) -> Any:
        found = self._lookups.get(lookup_name)
        if found is None:
            raise FieldError(
                f"{self.name} is encrypted: the lookup {lookup_name!r} cannot work on it; "
                "search by exact match on its hash column (bihuan.core.crypto.blind_index)."
            )
        return found

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)

    def formfield(  # type: ignore[override]
        self, form_class: Any = None, choices_form_class: Any = None, **kwargs: Any
    ) -> Any:
        # A one-line input as the CharField it replaces, not TextField's textarea.
        return models.Field.formfield(
            self,
            form_class=form_class,
            choices_form_class=choices_form_class,
            **{"max_length": self.max_length, **kwargs},
        )


class BlindIndexDescriptor:
    """Reads the hash of the source field's current value, so it can never be stale."""

    def __init__(self, field: BlindIndexField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return crypto.blind_index(getattr(instance, self.field.source), self.field.kind)

    def __set__(self, instance: models.Model, value: Any) -> None:
        # Kept only so Django sees the column as loaded (not deferred); reads recompute it.
        instance.__dict__[self.field.attname] = value


class BlindIndexField(models.CharField):
    """The keyed hash (HMAC-SHA256, hex) of another field's normalised value, indexed."""

    descriptor_class = BlindIndexDescriptor  # type: ignore[assignment]

    def __init__(self, *args: Any, source: str, kind: str, **kwargs: Any) -> None:
        if kind not in crypto.NORMALIZERS:
            raise ValueError(f"Unknown kind of personal number: {kind!r}.")
        self.source = source
        self.kind = kind
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs["kind"] = self.kind
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return crypto.blind_index(getattr(model_instance, self.source), self.kind)
