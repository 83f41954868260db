"""Writes to cases and refunds: each function locks, checks, saves and records one change.

Who may act on a case is decided by its lead: a supervisor whose places contain the lead, or an
officer of a department holding a live work order on it. Refunds are verified by the bureau only.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import Department
from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus, ReinspectionResult
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads.models import Lead, WorkOrder
from bihuan.leads.selectors import leads_triaged_by, work_orders_handled_by
from bihuan.leads.workflow import ORDER_LIVE, LeadStatus, OrderRole
from bihuan.registry.models import Institution
from bihuan.registry.services import institution_set_blacklist

CASE_FIELDS = [
    "status",
    "institution",
    "department",
    "rectification_order",
    "rectification_due",
    "reinspection",
    "reinspected_at",
    "penalty_fen",
    "penalty_basis",
    "penalty_document",
    "closure_ordered",
    "blacklisted",
    "summary",
    "is_disguised",
    "concluded_at",
]
REFUND_FIELDS = [
    "case",
    "amount_fen",
    "families",
    "status",
    "note",
    "verified_by",
    "verified_at",
    "rejection_reason",
]
# A case is opened once a department has the lead in hand, and may still be opened after closure.
CASE_OPENABLE = frozenset(
    {LeadStatus.DISPATCHED, LeadStatus.REPLIED, LeadStatus.VERIFIED, LeadStatus.CLOSED}
)
# Ten billion yuan: far above any real amount, and safely inside a 64-bit column.
MAX_FEN = 10**12
MAX_FAMILIES = 1_000_000


# Who may act.


def is_case_supervisor(actor: Any, lead: Lead) -> bool:
    """Is the actor the bureau for this lead (a supervisor whose places contain it)?"""
    if not can(actor, Capability.CASE_RECORD):
        return False
    return leads_triaged_by(actor).filter(pk=lead.pk).exists()


def live_orders_of(actor: Any, lead: Lead) -> list[WorkOrder]:
    """The actor's department's live work orders on the lead (empty for everyone else)."""
    if not can(actor, Capability.CASE_RECORD):
        return []
    return list(
        work_orders_handled_by(actor).filter(lead_id=lead.pk, status__in=sorted(ORDER_LIVE))
    )


def may_record(actor: Any, lead: Lead) -> bool:
    """May the actor open a case on the lead and record its outcomes and refunds?"""
    return is_case_supervisor(actor, lead) or bool(live_orders_of(actor, lead))


def _require_recorder(actor: Any, lead: Lead) -> None:
    if not may_record(actor, lead):
        raise NotAllowed(_("Only the bureau or a department handling this lead may record this."))


def _require_bureau(actor: Any, lead: Lead) -> None:
    if not is_case_supervisor(actor, lead):
        raise NotAllowed(_("Only the education bureau may verify or reject a refund."))


def _locked_open_case(case: Case) -> Case:
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if locked.status == CaseStatus.CONCLUDED:
        raise ServiceError(_("This case is concluded; only refunds may still be reported."))
    return locked


def _text(value: str | None, *, field: str, limit: int, required: str | None = None) -> str:
    text = (value or "").strip()
    if required is not None and not text:
        raise ServiceError(required, field=field)
    if len(text) > limit:
        raise ServiceError(
            _("At most %(n)d characters, please.") % {"n": limit},
            field=field,
        )
    return text


def _whole(value: Any, *, field: str, low: int, high: int, message: str) -> int:
    # bool is an int in Python: True fen is not an amount.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ServiceError(message, field=field)
    return value


def _record(actor: Any, verb: str, case: Case, before: dict[str, Any] | None, **extra: Any) -> None:
    event_record(
        actor=actor,
        verb=verb,
        obj=case,
        before=before,
        after=snapshot(case, CASE_FIELDS) | extra,
    )


# Cases.


@transaction.atomic
def case_open(*, actor: Any, lead: Lead) -> Case:
    """Open the one case of a dispatched lead, handled by the actor's department or the lead's."""
    _require_recorder(actor, lead)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status not in CASE_OPENABLE:
        raise ServiceError(_("A case can be opened only on a lead that was dispatched."))
    department = _case_department(actor, lead)
    if department is None:
        raise ServiceError(_("This lead has no lead department to handle the case."))
    case = Case(
        lead=lead,
        institution=lead.institution,
        region=lead.region,
        department=department,
        opened_by=actor,
    )
    try:
        with transaction.atomic():
            case.save()
    except IntegrityError:
        raise ServiceError(_("This lead already has a case.")) from None
    _record(actor, "case.opened", case, None, lead=lead.reference)
    return case


def _case_department(actor: Any, lead: Lead) -> Department | None:
    orders = live_orders_of(actor, lead)
    if orders:
        return orders[0].department
    order = (
        WorkOrder.objects.filter(lead=lead, role=OrderRole.LEAD, status__in=sorted(ORDER_LIVE))
        .select_related("department")
        .first()
    )
    return order.department if order else None


@transaction.atomic
def case_record_rectification(
    *, actor: Any, case: Case, order_text: str, due: datetime.date
) -> Case:
    """Order the institution to rectify by a date; its re-inspection is then awaited."""
    _require_recorder(actor, case.lead)
    text = _text(
        order_text,
        field="order_text",
        limit=500,
        required=_("Say what the institution must rectify."),
    )
    if not isinstance(due, datetime.date) or isinstance(due, datetime.datetime):
        raise ServiceError(_("Give the date to rectify by."), field="due")
    if due < timezone.localdate():
        raise ServiceError(_("The date to rectify by cannot be in the past."), field="due")
    case = _locked_open_case(case)
    before = snapshot(case, CASE_FIELDS)
    case.rectification_order = text
    case.rectification_due = due
    case.reinspection = ReinspectionResult.PENDING
    case.reinspected_at = None
    case.save()
    _record(actor, "case.rectification_ordered", case, before)
    return case


@transaction.atomic
def case_record_reinspection(*, actor: Any, case: Case, passed: bool, note: str = "") -> Case:
    """Record whether the re-inspection found the rectification done."""
    _require_recorder(actor, case.lead)
    note = _text(note, field="note", limit=500)
    case = _locked_open_case(case)
    if not case.rectification_order:
        raise ServiceError(_("A re-inspection follows a rectification order; record that first."))
    if case.reinspection != ReinspectionResult.PENDING:
        raise ServiceError(
            _("The re-inspection was already recorded; order a new rectification first.")
        )
    before = snapshot(case, CASE_FIELDS)
    case.reinspection = ReinspectionResult.PASSED if passed else ReinspectionResult.FAILED
    case.reinspected_at = timezone.now()
    case.save()
    _record(actor, "case.reinspected", case, before, note=note)
    return case


@transaction.atomic
def case_record_penalty(
    *, actor: Any, case: Case, amount_fen: int, basis: str, document: str = ""
) -> Case:
    """Record the fine imposed, with its legal basis and decision number."""
    _require_recorder(actor, case.lead)
    amount = _whole(
        amount_fen,
        field="amount",
        low=1,
        high=MAX_FEN,
        message=_("A penalty is between ¥0.01 and ¥10,000,000,000.00."),
    )
    basis = _text(
        basis, field="basis", limit=300, required=_("Give the legal basis of the penalty.")
    )
    document = _text(document, field="document", limit=100)
    case = _locked_open_case(case)
    before = snapshot(case, CASE_FIELDS)
    case.penalty_fen = amount
    case.penalty_basis = basis
    case.penalty_document = document
    case.save()
    _record(actor, "case.penalised", case, before)
    return case


@transaction.atomic
def case_order_closure(*, actor: Any, case: Case, note: str = "") -> Case:
    """Record that the institution was ordered to close (取缔)."""
    _require_recorder(actor, case.lead)
    note = _text(note, field="note", limit=500)
    case = _locked_open_case(case)
    if case.closure_ordered:
        raise ServiceError(_("Closure was already ordered in this case."))
    before = snapshot(case, CASE_FIELDS)
    case.closure_ordered = True
    case.save()
    _record(actor, "case.closure_ordered", case, before, note=note)
    return case


@transaction.atomic
def case_blacklist(*, actor: Any, case: Case, reason: str) -> Case:
    """Blacklist the lead's institution, here and in the registry."""
    _require_recorder(actor, case.lead)
    reason = _text(
        reason, field="reason", limit=500, required=_("Say why the institution is blacklisted.")
    )
    case = _locked_open_case(case)
    if case.blacklisted:
        raise ServiceError(_("The institution was already blacklisted in this case."))
    lead = Lead.objects.select_related("institution").get(pk=case.lead_id)
    if lead.institution is None:
        raise ServiceError(_("This lead names no registered institution to blacklist."))
    institution = _survivor(lead.institution)
    before = snapshot(case, CASE_FIELDS)
    if not institution.is_blacklisted:
        # Officers may not manage the registry; the case is the authority here, and its event
        # below names the person who decided.
        institution_set_blacklist(
            actor=None, institution=institution, blacklisted=True, reason=reason
        )
    case.blacklisted = True
    case.institution = institution
    case.save()
    _record(actor, "case.blacklisted", case, before, reason=reason)
    return case


def _survivor(institution: Institution) -> Institution:
    # A merge re-points earlier merges to the survivor, so one step is enough.
    return institution.merged_into if institution.merged_into_id else institution  # type: ignore[return-value]


@transaction.atomic
def case_conclude(*, actor: Any, case: Case, summary: str) -> Case:
    """Conclude a case with at least one outcome; fixes whether it counts as disguised tutoring."""
    _require_recorder(actor, case.lead)
    summary = _text(
        summary, field="summary", limit=5000, required=_("Summarise the case to conclude it.")
    )
    case = _locked_open_case(case)
    if not case.outcomes:
        raise ServiceError(
            _("Record at least one outcome (rectification, penalty, closure or blacklisting).")
        )
    before = snapshot(case, CASE_FIELDS)
    case.summary = summary
    case.status = CaseStatus.CONCLUDED
    case.concluded_at = timezone.now()
    case.is_disguised = case.lead.violation_types.filter(is_disguised=True).exists()
    case.save()
    _record(actor, "case.concluded", case, before)
    return case


# Refunds.


@transaction.atomic
def refund_report(
    *, actor: Any, case: Case, amount_fen: int, families: int, note: str = ""
) -> Refund:
    """Report fees refunded to families; they count once the bureau verifies them."""
    _require_recorder(actor, case.lead)
    amount = _whole(
        amount_fen,
        field="amount",
        low=1,
        high=MAX_FEN,
        message=_("A refund is between ¥0.01 and ¥10,000,000,000.00."),
    )
    count = _whole(
        families,
        field="families",
        low=1,
        high=MAX_FAMILIES,
        message=_("Give the number of families, a whole number from 1 to 1,000,000."),
    )
    note = _text(note, field="note", limit=500)
    # Lock the case so a refund is never reported against a case changing under it.
    case = Case.objects.select_for_update().get(pk=case.pk)
    refund = Refund.objects.create(
        case=case, amount_fen=amount, families=count, note=note, reported_by=actor
    )
    event_record(
        actor=actor, verb="refund.reported", obj=refund, after=snapshot(refund, REFUND_FIELDS)
    )
    return refund


def _locked_reported(refund: Refund, *, verifying: bool) -> Refund:
    locked = Refund.objects.select_for_update().select_related("case__lead").get(pk=refund.pk)
    if locked.status == RefundStatus.VERIFIED:
        raise ServiceError(
            _("This refund was already verified.")
            if verifying
            else _("This refund was verified; it can no longer be rejected.")
        )
    if locked.status == RefundStatus.REJECTED:
        raise ServiceError(
            _("This refund was rejected; it cannot be verified.")
            if verifying
            else _("This refund was already rejected.")
        )
    return locked


@transaction.atomic
def refund_verify(*, actor: Any, refund: Refund) -> Refund:
    """The bureau confirms a reported refund; from now on it counts in the figures."""
    _require_bureau(actor, refund.case.lead)
    refund = _locked_reported(refund, verifying=True)
    before = snapshot(refund, REFUND_FIELDS)
    refund.status = RefundStatus.VERIFIED
    refund.verified_by = actor
    refund.verified_at = timezone.now()
    refund.save()
    event_record(
        actor=actor,
        verb="refund.verified",
        obj=refund,
        before=before,
        after=snapshot(refund, REFUND_FIELDS),
    )
    _tell_reporter(refund, _("Refund verified: %(case)s ¥%(amount)s"))
    return refund


@transaction.atomic
def refund_reject(*, actor: Any, refund: Refund, reason: str) -> Refund:
    """The bureau refuses a reported refund, saying why."""
    _require_bureau(actor, refund.case.lead)
    reason = _text(reason, field="reason", limit=500, required=_("Say why the refund is rejected."))
    refund = _locked_reported(refund, verifying=False)
    before = snapshot(refund, REFUND_FIELDS)
    refund.status = RefundStatus.REJECTED
    refund.rejection_reason = reason
    refund.save()
    event_record(
        actor=actor,
        verb="refund.rejected",
        obj=refund,
        before=before,
        after=snapshot(refund, REFUND_FIELDS),
    )
    _tell_reporter(refund, _("Refund rejected: %(case)s ¥%(amount)s"))
    return refund


def _tell_reporter(refund: Refund, title: str) -> None:
    from bihuan.notifications.services import notify

    reporter = refund.reported_by
    text = title % {"case": refund.case.lead.reference, "amount": refund.amount_yuan}
    key = f"refund:{refund.pk}:{refund.status}"
    url = f"/cases/{refund.case_id}/"
    # Only once the decision is committed: a rolled-back decision tells nobody.
    transaction.on_commit(
        lambda: notify(users=[reporter], kind="refund", title=text, url=url, key=key)
    )
