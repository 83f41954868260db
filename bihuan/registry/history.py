"""Reads behind an institution's page: the records merged into it and its audit history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bihuan.audit.models import Event
from bihuan.registry.models import Institution

OBJECT_TYPE = Institution._meta.label_lower


def merged_ids(institution: Institution) -> list[int]:
    """The institution's id and the ids of every record merged into it, at any depth."""
    ids = [institution.pk]
    frontier = [institution.pk]
    while frontier:
        # A merge re-points earlier merges to the survivor, so this loop usually runs once.
        frontier = [
            pk
            for pk in Institution.objects.filter(merged_into__in=frontier).values_list(
                "pk", flat=True
            )
            if pk not in ids
        ]
        ids += frontier
    return ids


def institution_merged_from(institution: Institution) -> QuerySet[Institution]:
    """The records that were merged into this one (directly or through an earlier merge)."""
    ids = merged_ids(institution)[1:]
    return Institution.objects.filter(pk__in=ids).order_by("pk")


def institution_history(institution: Institution) -> QuerySet[Event]:
    """Audit events of the institution and of the records merged into it, newest first."""
    ids = [str(pk) for pk in merged_ids(institution)]
    return Event.objects.filter(object_type=OBJECT_TYPE, object_id__in=ids).order_by("-at", "-id")


VERBS = {
    "institution.created": _("registered"),
    "institution.updated": _("edited"),
    "institution.status_changed": _("status changed"),
    "institution.blacklisted": _("put on the blacklist"),
    "institution.unblacklisted": _("taken off the blacklist"),
    "institution.course_added": _("course added"),
    "institution.merged": _("a duplicate was merged into it"),
    "institution.merged_into": _("merged into another record"),
    "institution.match_rejected": _("judged different from a possible duplicate"),
}


@dataclass(frozen=True)
class HistoryEntry:
    """One event as the institution's page shows it."""

    event: Event
    label: str
    # (field label, before, after) for each recorded field that changed.
    changes: list[tuple[str, Any, Any]]
    # True when the event happened to a record that was later merged into this one.
    on_merged_record: bool


def _changes(event: Event) -> list[tuple[str, Any, Any]]:
    before, after = event.before or {}, event.after or {}
    if not before:
        return []
    result = []
    for name, old in before.items():
        new = after.get(name, old)
        if name == "merged_into" and new is not None:
            new = after.get("survivor_name", new)  # a name reads better than an id
        if new != old:
            try:
                field = Institution._meta.get_field(name)
            except FieldDoesNotExist:
                label = name
            else:
                label = str(getattr(field, "verbose_name", name))
            result.append((label, old, new))
    return result


def history_entries(institution: Institution, limit: int = 200) -> list[HistoryEntry]:
    """The newest ``limit`` events of ``institution_history``, labelled, with what changed."""
    own = str(institution.pk)
    return [
        HistoryEntry(
            event=event,
            label=str(VERBS.get(event.verb, event.verb)),
            changes=_changes(event),
            on_merged_record=event.object_id != own,
        )
        for event in institution_history(institution)[:limit]
    ]
