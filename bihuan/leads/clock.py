"""The clock of the loop: overdue work orders are urged, then escalated; a daily digest for all.

Every step is idempotent. An order is claimed for one deadline by a conditional UPDATE of
``urged_for`` / ``escalated_for`` in the same transaction as the reminder it triggers: a worker
killed mid-way rolls back both, and a second scanner (or a rerun) finds nothing left to claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import Role, User
from bihuan.accounts.selectors import people_over
from bihuan.core.workdays import working_days_between
from bihuan.leads import services
from bihuan.leads.models import ExtensionRequest, Lead, WorkOrder
from bihuan.leads.workflow import LEAD_OPEN, ExtensionStatus, LeadStatus, OrderStatus
from bihuan.notifications.services import notify
from bihuan.webhooks import services as webhooks  # webhooks hook (issue 7)

# Working days past a deadline after which an urged order is escalated (督办) to the level above.
ESCALATE_AFTER_DAYS = 2
_CHUNK = 500


@dataclass
class ScanResult:
    urged: int = 0
    escalated: int = 0
    leads_overdue: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "urged": self.urged,
            "escalated": self.escalated,
            "leads_overdue": self.leads_overdue,
        }


def _overdue(
    status: str, due_field: str, now: datetime, claim_field: str
) -> list[tuple[int, datetime]]:
    """(order id, deadline) of orders in ``status`` past ``due_field`` not yet claimed for it."""
    rows = (
        WorkOrder.objects.filter(status=status, **{f"{due_field}__lt": now})
        .exclude(**{claim_field: F(due_field)})
        .order_by(due_field, "pk")
        .values_list("pk", due_field)
    )
    return list(rows)


def _claim(pk: int, status: str, due_field: str, due: datetime, claim_field: str) -> bool:
    """Take the order for this deadline, unless someone else did (or it moved on) meanwhile."""
    return (
        WorkOrder.objects.filter(pk=pk, status=status, **{due_field: due})
        .exclude(**{claim_field: due})
        .update(**{claim_field: due})
        == 1
    )


def overdue_scan(now: datetime | None = None) -> ScanResult:
    """Urge every order past its deadline once per deadline; escalate those long past it."""
    now = now or timezone.now()
    result = ScanResult()
    for status, due_field in (
        (OrderStatus.AWAITING, "sign_due"),
        (OrderStatus.SIGNED, "reply_due"),
    ):
        for pk, due in _overdue(status, due_field, now, "urged_for"):
            with transaction.atomic():
                if not _claim(pk, status, due_field, due, "urged_for"):
                    continue
                order = WorkOrder.objects.get(pk=pk)
                services.work_order_urge(
                    actor=None,
                    order=order,
                    note=_("Overdue since %(due)s.")
                    % {"due": timezone.localtime(due).strftime("%Y-%m-%d %H:%M")},
                    due_key=f"urge:{due:%Y%m%dT%H%M%S.%f%z}",
                )
                # webhooks hook (issue 7)
                webhooks.emit("work_order.overdue", order, webhooks.order_payload(order))
                result.urged += 1
        # Escalation: only orders already urged for this deadline, and at least N working days late.
        rough = now - timedelta(days=ESCALATE_AFTER_DAYS)
        candidates = (
            WorkOrder.objects.filter(
                status=status, **{f"{due_field}__lt": rough}, urged_for=F(due_field)
            )
            .exclude(escalated_for=F(due_field))
            .order_by(due_field, "pk")
            .values_list("pk", due_field)
        )
        for pk, due in list(candidates):
            if working_days_between(due, now) < ESCALATE_AFTER_DAYS:
                continue
            with transaction.atomic():
                if not _claim(pk, status, due_field, due, "escalated_for"):
                    continue
                order = WorkOrder.objects.get(pk=pk)
                services.work_order_supervise(
                    actor=None,
                    order=order,
                    note=_("%(days)d working days overdue: escalated.")
                    % {"days": working_days_between(due, now)},
                    due_key=f"escalate:{due:%Y%m%dT%H%M%S.%f%z}",
                )
                result.escalated += 1
    result.leads_overdue = _bureau_overdue(now)
    return result


def _bureau_overdue(now: datetime) -> int:
    """Tell the bureau about its own overdue steps (triage, decisions, verification, closure)."""
    # A dispatched lead's deadline belongs to a department (the order scan deals with it) unless a
    # return waits for the bureau's decision.
    overdue = (
        Lead.objects.filter(status__in=sorted(LEAD_OPEN), due_at__lt=now)
        .filter(
            ~Q(status=LeadStatus.DISPATCHED) | Q(work_orders__status=OrderStatus.RETURN_REQUESTED)
        )
        .distinct()
        .select_related("region")
        .order_by("pk")
    )
    told = 0
    for lead in overdue.iterator(chunk_size=_CHUNK):
        told += notify(
            users=people_over(lead.region, [Role.SUPERVISOR]),
            kind="lead.overdue",
            title=_("Lead %(ref)s is overdue at the bureau") % {"ref": lead.reference},
            url=f"/leads/{lead.pk}/",
            key=f"lead.overdue:{lead.pk}:{lead.due_at.isoformat() if lead.due_at else ''}",
        )
    return told


def daily_digest(today: str | None = None) -> int:
    """One notification a day to each officer and supervisor with something waiting."""
    now = timezone.now()
    day = today or timezone.localdate().isoformat()
    sent = 0
    per_department = (
        WorkOrder.objects.filter(status__in=[OrderStatus.AWAITING, OrderStatus.SIGNED])
        .values("department_id")
        .annotate(
            awaiting=Count("pk", filter=Q(status=OrderStatus.AWAITING)),
            signed=Count("pk", filter=Q(status=OrderStatus.SIGNED)),
            overdue=Count(
                "pk",
                filter=Q(status=OrderStatus.AWAITING, sign_due__lt=now)
                | Q(status=OrderStatus.SIGNED, reply_due__lt=now),
            ),
        )
    )
    for row in per_department:
        officers = User.objects.filter(
            is_active=True,
            assignments__is_active=True,
            assignments__role=Role.OFFICER,
            assignments__department_id=row["department_id"],
        ).distinct()
        sent += notify(
            users=officers,
            kind="digest.department",
            title=_("Today: %(a)d to sign, %(s)d in hand, %(o)d overdue")
            % {"a": row["awaiting"], "s": row["signed"], "o": row["overdue"]},
            url="/leads/orders/",
            key=f"digest:{day}:department:{row['department_id']}",
        )
    supervisors = User.objects.filter(
        is_active=True, assignments__is_active=True, assignments__role=Role.SUPERVISOR
    ).distinct()
    from bihuan.leads.selectors import leads_triaged_by

    for supervisor in supervisors:
        leads = leads_triaged_by(supervisor)
        counts = leads.aggregate(
            new=Count("pk", filter=Q(status="new")),
            waiting=Count("pk", filter=Q(status__in=["replied", "verified"])),
            overdue=Count("pk", filter=Q(status__in=sorted(LEAD_OPEN), due_at__lt=now)),
        )
        returns = WorkOrder.objects.filter(
            lead__in=leads, status=OrderStatus.RETURN_REQUESTED
        ).count()
        extensions = ExtensionRequest.objects.filter(
            work_order__lead__in=leads, status=ExtensionStatus.PENDING
        ).count()
        if not any(counts.values()) and not returns and not extensions:
            continue
        sent += notify(
            users=[supervisor],
            kind="digest.bureau",
            title=_(
                "Today: %(new)d new, %(waiting)d to verify or close, %(overdue)d overdue, "
                "%(returns)d returns, %(ext)d extension requests"
            )
            % {**counts, "returns": returns, "ext": extensions},
            url="/leads/",
            key=f"digest:{day}:bureau:{supervisor.pk}",
        )
    return sent
