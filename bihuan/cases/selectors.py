"""Scoped reads of cases and refunds: whoever sees the lead sees its case."""

from __future__ import annotations

from django.db.models import QuerySet

from bihuan.cases.models import Case, Refund
from bihuan.leads.selectors import leads_visible_to


def cases_visible_to(user: object) -> QuerySet[Case]:
    """Cases whose lead the user may see."""
    return Case.objects.filter(lead__in=leads_visible_to(user))


def refunds_visible_to(user: object) -> QuerySet[Refund]:
    """Refunds of the cases the user may see."""
    return Refund.objects.filter(case__in=cases_visible_to(user))


def case_of_lead(user: object, lead_id: int) -> Case | None:
    """The visible case of a lead, if it has one (for the lead page's panel)."""
    return cases_visible_to(user).filter(lead_id=lead_id).first()
