"""A lead's timeline: the audit events of the lead, its work orders and their extension requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bihuan.audit.models import Event
from bihuan.leads.models import ExtensionRequest, Lead, WorkOrder

LEAD_OBJECT = Lead._meta.label_lower
ORDER_OBJECT = WorkOrder._meta.label_lower
EXTENSION_OBJECT = ExtensionRequest._meta.label_lower

VERB_LABELS: dict[str, Any] = {
    "lead.created": gettext_lazy("lead reported"),
    "lead.accepted": gettext_lazy("accepted and classified"),
    "lead.classified": gettext_lazy("re-classified"),
    "lead.linked": gettext_lazy("linked to an institution"),
    "lead.dismissed": gettext_lazy("dismissed"),
    "lead.merged": gettext_lazy("merged into another lead"),
    "lead.merged_from": gettext_lazy("a duplicate was merged into this lead"),
    "lead.dispatched": gettext_lazy("dispatched"),
    "lead.closed": gettext_lazy("closed"),
    "lead.reopened": gettext_lazy("reopened"),
    "lead.evidence_added": gettext_lazy("evidence added"),
    "lead.progressed": gettext_lazy("status, owner or deadline follows the work orders"),
    "work_order.created": gettext_lazy("work order created"),
    "work_order.signed": gettext_lazy("work order signed"),
    "work_order.replied": gettext_lazy("department replied"),
    "work_order.accepted": gettext_lazy("reply accepted"),
    "work_order.redo": gettext_lazy("sent back for redo"),
    "work_order.return_requested": gettext_lazy("return requested"),
    "work_order.return_refused": gettext_lazy("return refused"),
    "work_order.reassigned": gettext_lazy("reassigned"),
    "work_order.urged": gettext_lazy("urged (催办)"),
    "work_order.supervised": gettext_lazy("put under supervision (督办)"),
    "work_order.escalated": gettext_lazy("escalated to the level above"),
    "work_order.extended": gettext_lazy("reply deadline extended"),
    "work_order.reopened": gettext_lazy("work order reopened"),
    "extension.requested": gettext_lazy("extension requested"),
    "extension.decided": gettext_lazy("extension decided"),
}
# Keys of an event's ``after`` that would name the reporter: kept from those who may not see them.
REPORTER_KEYS = frozenset({"reporter", "reporter_name", "reporter_phone"})
_NOTE_KEYS = ("note", "reason", "reply", "dismiss_reason", "closure_note", "reporter_name")


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline, ready to show."""

    at: datetime
    actor: str
    verb: str
    subject: str  # the department of a work order's event; empty for the lead's own
    note: str


def _details(after: dict[str, Any]) -> str:
    parts = [str(after[key]) for key in _NOTE_KEYS if after.get(key)]
    if after.get("types"):
        parts.append(" ".join(str(code) for code in after["types"]))
    if after.get("days"):
        parts.append(_("+%(n)s working days") % {"n": after["days"]})
    return " · ".join(parts)


def lead_timeline(lead: Lead, viewer: object) -> list[TimelineEntry]:
    """The lead's history, oldest first, in three queries; reporter details only for who may."""
    order_ids = [str(pk) for pk in WorkOrder.objects.filter(lead=lead).values_list("pk", flat=True)]
    extension_ids = [
        str(pk)
        for pk in ExtensionRequest.objects.filter(work_order__lead=lead).values_list(
            "pk", flat=True
        )
    ]
    events = Event.objects.filter(
        Q(object_type=LEAD_OBJECT, object_id=str(lead.pk))
        | Q(object_type=ORDER_OBJECT, object_id__in=order_ids)
        | Q(object_type=EXTENSION_OBJECT, object_id__in=extension_ids)
    ).order_by("at", "pk")
    show_reporter: bool | None = None
    entries = []
    for event in events:
        after = dict(event.after) if isinstance(event.after, dict) else {}
        if REPORTER_KEYS & after.keys():
            if show_reporter is None:
                # Asked only when an event names the reporter: most timelines never need it.
                from bihuan.leads.selectors import may_see_reporter

                show_reporter = may_see_reporter(viewer, lead)
            if not show_reporter:
                after = {k: v for k, v in after.items() if k not in REPORTER_KEYS}
        subject = ""
        if event.object_type == ORDER_OBJECT and "·" in event.object_repr:
            subject = event.object_repr.split("·", 1)[1]
        entries.append(
            TimelineEntry(
                at=event.at,
                actor=event.actor_label or _("system"),
                verb=str(VERB_LABELS.get(event.verb, event.verb)),
                subject=subject,
                note=_details(after),
            )
        )
    return entries
