"""Does the loop hold? Every rule a lead or work order must obey, checked against the database.

The services keep these rules and the database enforces most of them with constraints, but rows
can arrive by other paths (a restore, a hand-written fix, an import), so ``check_loop`` looks at
the rows themselves. Each check is one query, read with ``.iterator()``: the number of queries
does not grow with the tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from bihuan.audit.models import Event
from bihuan.leads.models import Lead, WorkOrder
from bihuan.leads.workflow import (
    LEAD_OPEN,
    LEAD_TERMINAL,
    ORDER_LIVE,
    LeadStatus,
    OrderRole,
    OrderStatus,
    lead_status_for_orders,
)

CHUNK = 2000

# Leads whose status is read off their live orders.
LEAD_WITH_ORDERS = frozenset({LeadStatus.DISPATCHED, LeadStatus.REPLIED, LeadStatus.VERIFIED})
# Statuses in which a lead may carry live orders (a closed lead keeps its accepted ones).
LEAD_MAY_HOLD_ORDERS = LEAD_WITH_ORDERS | {LeadStatus.CLOSED}
# What a closed lead's orders may still be.
ORDER_DONE = frozenset({OrderStatus.ACCEPTED, OrderStatus.REASSIGNED, OrderStatus.WITHDRAWN})

LEAD_EVENT_TYPE = Lead._meta.label_lower
ORDER_EVENT_TYPE = WorkOrder._meta.label_lower


@dataclass(frozen=True)
class Problem:
    """One broken rule: what kind, on which record, and what exactly is wrong."""

    kind: str
    label: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.label}: {self.detail}"


def loop_problems() -> list[Problem]:
    """Every broken rule of leads and work orders, in a fixed order of checks."""
    problems: list[Problem] = []
    for check in CHECKS:
        problems.extend(check())
    return problems


# ---------------------------------------------------------------------------- labels and reading


def _lead_label(pk: int, reference: str) -> str:
    return f"lead {reference} (#{pk})"


def _order_label(pk: int, reference: str, department: str) -> str:
    return f"work order #{pk} ({reference}·{department})"


def _rows(queryset: QuerySet[Any], *fields: str) -> Iterator[tuple[Any, ...]]:
    return queryset.order_by("pk").values_list(*fields).iterator(chunk_size=CHUNK)


def _orders(queryset: QuerySet[WorkOrder]) -> Iterator[tuple[Any, ...]]:
    """(pk, label, status, *rest) of the orders, ordered by pk."""
    for pk, reference, department, status in _rows(
        queryset, "pk", "lead__reference", "department__short_name", "status"
    ):
        yield pk, _order_label(pk, reference, department), status


def _object_id() -> Cast:
    return Cast(OuterRef("pk"), output_field=CharField())


# ---------------------------------------------------------------------------- leads


def open_leads_without_owner_or_deadline() -> Iterator[Problem]:
    rows = Lead.objects.filter(status__in=LEAD_OPEN).filter(
        Q(owner_department__isnull=True) | Q(due_at__isnull=True)
    )
    for pk, reference, status, owner, due in _rows(
        rows, "pk", "reference", "status", "owner_department_id", "due_at"
    ):
        missing = [name for name, value in (("owner", owner), ("deadline", due)) if value is None]
        yield Problem(
            "open_lead_unowned",
            _lead_label(pk, reference),
            f"open lead ({status}) without {' and '.join(missing)}",
        )


def terminal_leads_with_owner_or_deadline() -> Iterator[Problem]:
    rows = Lead.objects.filter(status__in=LEAD_TERMINAL).filter(
        Q(owner_department__isnull=False) | Q(due_at__isnull=False)
    )
    for pk, reference, status in _rows(rows, "pk", "reference", "status"):
        yield Problem(
            "terminal_lead_owned",
            _lead_label(pk, reference),
            f"{status} lead still has an owner or a deadline",
        )


def leads_with_orders_but_no_lead_order() -> Iterator[Problem]:
    live = WorkOrder.objects.filter(lead=OuterRef("pk"), status__in=ORDER_LIVE)
    rows = Lead.objects.filter(Exists(live)).exclude(Exists(live.filter(role=OrderRole.LEAD)))
    for pk, reference, status in _rows(rows, "pk", "reference", "status"):
        yield Problem(
            "no_lead_department",
            _lead_label(pk, reference),
            f"{status} lead has live work orders but none of a lead department (主办)",
        )


def lead_status_against_orders() -> Iterator[Problem]:
    # One count per live status gives the exact multiset of the lead's live order statuses.
    counts: dict[str, Count] = {
        str(status): Count("work_orders", filter=Q(work_orders__status=status))
        for status in sorted(ORDER_LIVE)
    }
    rows = Lead.objects.filter(status__in=LEAD_WITH_ORDERS).annotate(
        **{f"n_{status}": count for status, count in counts.items()}
    )
    fields = ["pk", "reference", "status", *(f"n_{status}" for status in counts)]
    for pk, reference, status, *numbers in _rows(rows, *fields):
        statuses = [s for s, n in zip(counts, numbers, strict=True) for _ in range(n)]
        expected = lead_status_for_orders(statuses)
        if expected != status:
            yield Problem(
                "lead_status_mismatch",
                _lead_label(pk, reference),
                f"lead is {status} but its live orders ({', '.join(sorted(statuses)) or 'none'}) "
                f"make it {expected}",
            )


def closed_leads_with_unfinished_orders() -> Iterator[Problem]:
    rows = WorkOrder.objects.filter(lead__status=LeadStatus.CLOSED).exclude(status__in=ORDER_DONE)
    for _pk, label, status in _orders(rows):
        yield Problem("closed_lead_open_order", label, f"{status} order on a closed lead")


# ---------------------------------------------------------------------------- work orders


def orders_in_impossible_states() -> Iterator[Problem]:
    checks: list[tuple[str, Q, str]] = [
        (
            "return_incomplete",
            Q(status=OrderStatus.RETURN_REQUESTED)
            & (Q(proposed_department__isnull=True) | Q(return_reason="")),
            "return requested without a proposed department or a reason",
        ),
        (
            "signed_incomplete",
            Q(status__in=[OrderStatus.SIGNED, OrderStatus.REPLIED])
            & (Q(signed_at__isnull=True) | Q(reply_due__isnull=True)),
            "signed or replied without a signature time or a reply deadline",
        ),
        (
            "reply_missing",
            Q(status=OrderStatus.REPLIED) & Q(reply=""),
            "replied without a reply",
        ),
        (
            "reassigned_nowhere",
            Q(status=OrderStatus.REASSIGNED) & Q(reassigned_to__isnull=True),
            "reassigned without naming the order that took over",
        ),
        (
            "live_order_on_undispatched_lead",
            Q(status__in=ORDER_LIVE) & ~Q(lead__status__in=LEAD_MAY_HOLD_ORDERS),
            "live order on a lead that is not dispatched, replied, verified or closed",
        ),
    ]
    for kind, condition, detail in checks:
        for _pk, label, status in _orders(WorkOrder.objects.filter(condition)):
            yield Problem(kind, label, f"{status}: {detail}")


def departments_with_two_live_orders() -> Iterator[Problem]:
    rows = (
        WorkOrder.objects.filter(status__in=ORDER_LIVE)
        .values("lead_id", "lead__reference", "department__short_name")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("lead_id", "department__short_name")
        .values_list("lead_id", "lead__reference", "department__short_name", "n")
    )
    for lead_id, reference, department, n in rows.iterator(chunk_size=CHUNK):
        yield Problem(
            "department_twice",
            _lead_label(lead_id, reference),
            f"{department} holds {n} live work orders on this lead",
        )


# ---------------------------------------------------------------------------- the event log


def _with_last_logged_status(queryset: QuerySet[Any], object_type: str) -> QuerySet[Any]:
    """Annotate each row with whether it has events, and the status its last status event set."""
    events = Event.objects.filter(object_type=object_type, object_id=_object_id())
    last_status = (
        events.filter(after__has_key="status")
        .order_by("-id")
        .annotate(logged=KeyTextTransform("status", "after"))
        .values("logged")[:1]
    )
    return queryset.annotate(has_event=Exists(events), logged_status=Subquery(last_status))


def _log_problem(label: str, status: str, has_event: bool, logged: str | None) -> Problem | None:
    if not has_event:
        return Problem("no_event", label, f"{status}, but no event was ever recorded")
    if logged is None:
        return Problem("event_without_status", label, f"{status}, but no event records a status")
    if logged != status:
        return Problem(
            "event_status_mismatch", label, f"{status}, but the last event recorded {logged}"
        )
    return None


def leads_against_event_log() -> Iterator[Problem]:
    rows = _with_last_logged_status(Lead.objects.all(), LEAD_EVENT_TYPE)
    for pk, reference, status, has_event, logged in _rows(
        rows, "pk", "reference", "status", "has_event", "logged_status"
    ):
        problem = _log_problem(_lead_label(pk, reference), status, has_event, logged)
        if problem is not None:
            yield problem


def orders_against_event_log() -> Iterator[Problem]:
    rows = _with_last_logged_status(WorkOrder.objects.all(), ORDER_EVENT_TYPE)
    for pk, reference, department, status, has_event, logged in _rows(
        rows,
        "pk",
        "lead__reference",
        "department__short_name",
        "status",
        "has_event",
        "logged_status",
    ):
        label = _order_label(pk, reference, department)
        problem = _log_problem(label, status, has_event, logged)
        if problem is not None:
            yield problem


CHECKS = (
    open_leads_without_owner_or_deadline,
    terminal_leads_with_owner_or_deadline,
    orders_in_impossible_states,
    leads_with_orders_but_no_lead_order,
    departments_with_two_live_orders,
    lead_status_against_orders,
    closed_leads_with_unfinished_orders,
    leads_against_event_log,
    orders_against_event_log,
)
