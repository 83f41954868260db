"""Writes on encrypted columns as a whole: encrypting old rows, and moving values to the newest key.

Used by ``manage.py rotate_field_keys`` and by the migrations that turned plain columns into
encrypted ones (with the historical models, which carry the same fields).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q

from bihuan.audit.services import event_record
from bihuan.core import crypto
from bihuan.core.fields import BlindIndexField, EncryptedTextField

BATCH_SIZE = 500


def encrypted_field_names(model: type[models.Model]) -> list[str]:
    """The encrypted fields of a model."""
    return [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def with_hash_fields(model: type[models.Model], names: list[str] | set[str]) -> list[str]:
    """The field names plus the hash columns of any encrypted ones: what bulk_update must write."""
    hashes = [
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, BlindIndexField) and f.source in names
    ]
    return sorted({*names, *hashes})


def encrypted_models() -> list[type[models.Model]]:
    """Every installed model with an encrypted field, in a stable order."""
    found = [m for m in apps.get_models() if encrypted_field_names(m)]
    return sorted(found, key=lambda m: m._meta.label_lower)


def _stale(model: type[models.Model], current_id: str | None) -> Q:
    """Rows holding a value not under the current key (plain text from before encryption too);
    with no key id, every row holding a value."""
    condition = Q()
    for name in encrypted_field_names(model):
        held = ~Q(**{name: ""})
        if current_id is not None:
            held &= ~Q(**{f"{name}__key_id": current_id})
        condition |= held
    return condition


def stale_count(model: type[models.Model]) -> int:
    """How many rows of the model hold a value under an old key, or not encrypted at all."""
    current = crypto.keyring().current_id
    return model._base_manager.filter(_stale(model, current)).count()


def model_reencrypt(
    model: type[models.Model], *, batch_size: int = BATCH_SIZE, everything: bool = False
) -> int:
    """Write every stale value of the model again under the newest key; the rows rewritten.

    ``everything`` rewrites every value, current or not: what a new FIELD_HASH_KEY needs, since
    the hashes are recomputed from the values.

    Each batch is read under a row lock and written in its own transaction, so an edit made
    meanwhile is neither lost nor overwritten, and an interrupted run resumes where it stopped.
    """
    names = encrypted_field_names(model)
    if not names:
        return 0
    current = None if everything else crypto.keyring().current_id
    columns = with_hash_fields(model, names)
    manager = model._base_manager
    done, last = 0, None
    while True:
        with transaction.atomic():
            rows = manager.select_for_update().filter(_stale(model, current)).order_by("pk")
            if last is not None:
                rows = rows.filter(pk__gt=last)
            batch = list(rows.only("pk", *names)[:batch_size])
            if not batch:
                return done
            # Reading decrypted each value (or took old plain text as it is); writing encrypts
            # it under the newest key and recomputes its hash.
            manager.bulk_update(batch, columns)
        done += len(batch)
        last = batch[-1].pk


def field_keys_rotate(
    *, actor: Any = None, batch_size: int = BATCH_SIZE, everything: bool = False
) -> dict[str, int]:
    """Move every encrypted value to the newest key; rows rewritten per model, audited."""
    counts = {
        model._meta.label_lower: model_reencrypt(
            model, batch_size=batch_size, everything=everything
        )
        for model in encrypted_models()
    }
    event_record(
        actor=actor,
        verb="crypto.field_keys_rotated",
        object_type="core.field_keys",
        object_id=crypto.keyring().current_id,
        object_repr=f"key {crypto.keyring().current_id}",
        actor_label="" if actor else "rotate_field_keys",
        after={
            "key_id": crypto.keyring().current_id,
            "rewritten": counts,
            "everything": everything,
        },
    )
    return counts


def migration_encrypt(app_label: str, model_name: str) -> Any:
    """A RunPython function encrypting the existing rows of one model (historical model)."""

    def forwards(registry: Any, schema_editor: Any) -> None:
        model_reencrypt(registry.get_model(app_label, model_name))

    return forwards


def migration_decrypt(app_label: str, model_name: str, names: list[str]) -> Any:
    """A RunPython function writing the plain values back (reversing ``migration_encrypt``)."""

    def backwards(registry: Any, schema_editor: Any) -> None:
        model = registry.get_model(app_label, model_name)
        table = schema_editor.quote_name(model._meta.db_table)
        pk = schema_editor.quote_name(model._meta.pk.column)
        for name in names:
            column = schema_editor.quote_name(model._meta.get_field(name).column)
            rows = list(model._base_manager.exclude(**{name: ""}).values_list("pk", name))
            with schema_editor.connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                    [(value, key) for key, value in rows],
                )

    return backwards
