"""States of leads, work orders and joint operations, and the moves allowed between them.

Data only, no database: services check every move against these tables, ``check_loop`` and the
stateful test check recorded history against them.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LeadStatus(models.TextChoices):
    NEW = "new", _("new")
    ACCEPTED = "accepted", _("accepted")
    DISPATCHED = "dispatched", _("dispatched")
    REPLIED = "replied", _("replied")
    VERIFIED = "verified", _("verified")
    CLOSED = "closed", _("closed")
    DISMISSED = "dismissed", _("dismissed")
    MERGED = "merged", _("merged into another lead")


# An open lead always has an owning department and a deadline (a database constraint says so).
LEAD_OPEN = frozenset(
    {
        LeadStatus.NEW,
        LeadStatus.ACCEPTED,
        LeadStatus.DISPATCHED,
        LeadStatus.REPLIED,
        LeadStatus.VERIFIED,
    }
)
LEAD_TERMINAL = frozenset({LeadStatus.CLOSED, LeadStatus.DISMISSED, LeadStatus.MERGED})

LEAD_MOVES: dict[str, frozenset[str]] = {
    LeadStatus.NEW: frozenset({LeadStatus.ACCEPTED, LeadStatus.DISMISSED, LeadStatus.MERGED}),
    LeadStatus.ACCEPTED: frozenset(
        {LeadStatus.DISPATCHED, LeadStatus.DISMISSED, LeadStatus.MERGED}
    ),
    # Reassignment or redo can bring a replied or verified lead back to dispatched.
    LeadStatus.DISPATCHED: frozenset({LeadStatus.REPLIED, LeadStatus.VERIFIED}),
    LeadStatus.REPLIED: frozenset({LeadStatus.DISPATCHED, LeadStatus.VERIFIED}),
    LeadStatus.VERIFIED: frozenset({LeadStatus.DISPATCHED, LeadStatus.CLOSED}),
    LeadStatus.CLOSED: frozenset({LeadStatus.DISPATCHED}),  # reopened
    LeadStatus.DISMISSED: frozenset({LeadStatus.ACCEPTED}),  # reopened
    LeadStatus.MERGED: frozenset(),
}


class LeadSource(models.TextChoices):
    INSPECTION = "inspection", _("inspection")
    SCHOOL = "school", _("school sentinel")
    TIP = "tip", _("public tip")
    REFERRAL = "referral", _("department referral")
    MONITORING = "monitoring", _("online monitoring")
    BUREAU = "bureau", _("bureau entry")


class ClosureReason(models.TextChoices):
    RECTIFIED = "rectified", _("rectified")
    PENALISED = "penalised", _("penalised")
    NOT_SUBSTANTIATED = "not_substantiated", _("not substantiated")
    TRANSFERRED = "transferred", _("transferred")


class OrderRole(models.TextChoices):
    LEAD = "lead", _("lead department (主办)")
    ASSIST = "assist", _("assisting department (协办)")


class OrderStatus(models.TextChoices):
    AWAITING = "awaiting", _("awaiting signature")
    SIGNED = "signed", _("signed")
    REPLIED = "replied", _("replied")
    ACCEPTED = "accepted", _("reply accepted")
    RETURN_REQUESTED = "return_requested", _("return requested")
    REASSIGNED = "reassigned", _("reassigned")
    WITHDRAWN = "withdrawn", _("withdrawn")


# Orders a department still has to act on; each has a deadline.
ORDER_OPEN = frozenset({OrderStatus.AWAITING, OrderStatus.SIGNED, OrderStatus.RETURN_REQUESTED})
# Orders that still count as the department's share of the lead.
ORDER_LIVE = frozenset(
    {
        OrderStatus.AWAITING,
        OrderStatus.SIGNED,
        OrderStatus.REPLIED,
        OrderStatus.ACCEPTED,
        OrderStatus.RETURN_REQUESTED,
    }
)
ORDER_TERMINAL = frozenset({OrderStatus.REASSIGNED, OrderStatus.WITHDRAWN})

ORDER_MOVES: dict[str, frozenset[str]] = {
    OrderStatus.AWAITING: frozenset(
        {OrderStatus.SIGNED, OrderStatus.RETURN_REQUESTED, OrderStatus.REASSIGNED}
    ),
    OrderStatus.SIGNED: frozenset({OrderStatus.REPLIED, OrderStatus.RETURN_REQUESTED}),
    OrderStatus.REPLIED: frozenset({OrderStatus.ACCEPTED, OrderStatus.SIGNED}),  # SIGNED = redo
    OrderStatus.ACCEPTED: frozenset({OrderStatus.SIGNED}),  # a reopened lead sends it back
    # The bureau reassigns, or refuses the return (back to where the order was).
    OrderStatus.RETURN_REQUESTED: frozenset(
        {OrderStatus.REASSIGNED, OrderStatus.AWAITING, OrderStatus.SIGNED}
    ),
    OrderStatus.REASSIGNED: frozenset(),
    OrderStatus.WITHDRAWN: frozenset(),
}


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    APPROVED = "approved", _("approved")
    REFUSED = "refused", _("refused")


class ReminderKind(models.TextChoices):
    URGE = "urge", _("urge (催办)")
    SUPERVISE = "supervise", _("supervise (督办)")
    ESCALATE = "escalate", _("escalation to the level above")


class JointStatus(models.TextChoices):
    PROPOSED = "proposed", _("proposed")
    CONFIRMED = "confirmed", _("confirmed")
    DECLINED = "declined", _("declined")
    RECORDED = "recorded", _("carried out and recorded")


JOINT_MOVES: dict[str, frozenset[str]] = {
    JointStatus.PROPOSED: frozenset({JointStatus.CONFIRMED, JointStatus.DECLINED}),
    JointStatus.CONFIRMED: frozenset({JointStatus.RECORDED}),
    JointStatus.DECLINED: frozenset(),
    JointStatus.RECORDED: frozenset(),
}


def lead_may_move(current: str, target: str) -> bool:
    """Is ``current`` → ``target`` an allowed lead move?"""
    return target in LEAD_MOVES.get(current, frozenset())


def order_may_move(current: str, target: str) -> bool:
    """Is ``current`` → ``target`` an allowed work-order move?"""
    return target in ORDER_MOVES.get(current, frozenset())


def lead_status_for_orders(order_statuses: list[str]) -> str:
    """The status of a dispatched lead, read off its live work orders."""
    live = [s for s in order_statuses if s in ORDER_LIVE]
    if not live:
        return LeadStatus.ACCEPTED
    if all(s == OrderStatus.ACCEPTED for s in live):
        return LeadStatus.VERIFIED
    if all(s in (OrderStatus.REPLIED, OrderStatus.ACCEPTED) for s in live):
        return LeadStatus.REPLIED
    return LeadStatus.DISPATCHED
