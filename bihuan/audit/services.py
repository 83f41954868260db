"""The one way to write to the audit trail."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import models, transaction

from bihuan.audit.chain import ChainCheck, Failure, seal_after_commit
from bihuan.audit.models import Event
from bihuan.core.context import current_ip

# The verb of a verification of the hash chain; its ``after`` holds the outcome.
CHAIN_VERIFIED = "audit.chain_verified"
CHAIN_VERIFY_REQUESTED = "audit.chain_verify_requested"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of a record as JSON-ready values, for before/after."""
    values: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name)
        values[name] = _jsonable(getattr(instance, attname))
    return values


def _personal_numbers_masked(
    obj: models.Model, values: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The values with the record's encrypted numbers masked: the trail is kept for good, and
    a number encrypted in its table must not lie in clear here (bihuan.core.fields)."""
    if not values:
        return values
    masks = {f.name: f.masked for f in obj._meta.concrete_fields if hasattr(f, "masked")}
    if not masks.keys() & values.keys():
        return values
    return {
        key: masks[key](value) if key in masks and isinstance(value, str) else value
        for key, value in values.items()
    }


def event_record(
    *,
    actor: Any,
    verb: str,
    obj: models.Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    actor_label: str = "",
) -> Event:
    """Append one event; call it inside the transaction of the change it records."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:200]
        before = _personal_numbers_masked(obj, before)
        after = _personal_numbers_masked(obj, after)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = Event.objects.create(
        actor=actor if is_user else None,
        actor_label=actor_label or (actor.get_username() if is_user else ""),
        verb=verb,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        before=_jsonable(dict(before)) if before is not None else None,
        after=_jsonable(dict(after)) if after is not None else None,
        ip=current_ip(),
    )
    # The hash chain seals it once committed: no query here, one pass per transaction. After the
    # insert: outside a transaction, on_commit runs at once.
    seal_after_commit()
    return event


def events_bulk_record(events: Iterable[Event], *, batch_size: int = 1000) -> list[Event]:
    """Append many prepared events at once (generators and loaders); sealed once committed."""
    written = Event.objects.bulk_create(events, batch_size=batch_size)
    seal_after_commit()
    return written


def audit_chain_verify(
    *,
    actor: Any,
    since: datetime.datetime | None = None,
    grace: datetime.timedelta = datetime.timedelta(hours=1),
    on_failure: Callable[[Failure], None] | None = None,
    sample_size: int = 20,
) -> ChainCheck:
    """Verify the hash chain and record the outcome as an event (what the audit page shows).

    Failures are streamed to ``on_failure`` and not kept, apart from the first ``sample_size``.
    """
    check = ChainCheck(since=since, grace=grace)
    sample: list[dict[str, Any]] = []
    for failure in check.failures():
        if on_failure is not None:
            on_failure(failure)
        if len(sample) < sample_size:
            sample.append({"kind": failure.kind, "seq": failure.seq, "event": failure.event_id})
    event_record(
        actor=actor,
        verb=CHAIN_VERIFIED,
        object_type="audit.seal",
        object_id=str(check.last_seq or ""),
        object_repr=f"#{check.first_seq or 0}–#{check.last_seq or 0}",
        after=check.summary() | {"sample": sample},
    )
    return check


def audit_chain_verify_request(*, actor: Any) -> Event:
    """Ask a worker to verify the whole chain now (the audit page's button); recorded too."""
    from bihuan.audit.tasks import verify_chain  # the task module imports this one

    event = event_record(actor=actor, verb=CHAIN_VERIFY_REQUESTED, object_type="audit.seal")
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: verify_chain.enqueue(actor_id))
    return event
