"""Leads, work orders, institutions and cases built directly, for the tests of cases.

Leads and work orders are made with the ORM so these tests do not depend on the leads services.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any

from django.utils import timezone

from bihuan.accounts.models import Department
from bihuan.cases.models import Case
from bihuan.demo.data import WENCHANG
from bihuan.leads.models import Lead, ViolationType, WorkOrder
from bihuan.leads.workflow import LEAD_OPEN, LeadSource, LeadStatus, OrderRole, OrderStatus
from bihuan.registry import services as registry_services
from bihuan.registry.models import Institution, Source
from bihuan.territory.models import Area, Region

MARKET = "市市场监管局"
BUREAU = "市教育局"
_numbers = itertools.count(1)


def department(short_name: str = MARKET) -> Department:
    return Department.objects.get(short_name=short_name)


def institution_make(name: str = "文昌启航教育", region_code: str = WENCHANG) -> Institution:
    return registry_services.institution_create(
        actor=None, name=name, region=Region.objects.get(code=region_code), source=Source.MANUAL
    )


def lead_make(
    *,
    region_code: str = WENCHANG,
    status: str = LeadStatus.DISPATCHED,
    institution: Institution | None = None,
    violation_codes: tuple[str, ...] = (),
    in_area: bool = True,
    **fields: Any,
) -> Lead:
    """A lead in 文昌社区 (and its area), owned by the city bureau while open."""
    region = Region.objects.get(code=region_code)
    values: dict[str, Any] = {
        "reference": f"XS-T{next(_numbers):05d}",
        "source": LeadSource.INSPECTION,
        "status": status,
        "description": "周末在居民楼开展数学培训",
        "institution": institution,
        "place_name": "" if institution else "居民楼某室",
        "region": region,
        "area": Area.objects.filter(communities=region).first() if in_area else None,
    }
    if status in LEAD_OPEN:
        values |= {
            "owner_department": department(BUREAU),
            "due_at": timezone.now() + datetime.timedelta(days=7),
        }
    if status == LeadStatus.CLOSED:
        values |= {"closure_reason": "rectified", "closed_at": timezone.now()}
    if status == LeadStatus.DISMISSED:
        values |= {"dismiss_reason": "不属实"}
    lead = Lead.objects.create(**(values | fields))
    if violation_codes:
        lead.violation_types.set(ViolationType.objects.filter(code__in=violation_codes))
    return lead


def order_make(
    lead: Lead,
    *,
    short_name: str = MARKET,
    role: str = OrderRole.LEAD,
    status: str = OrderStatus.SIGNED,
) -> WorkOrder:
    """A work order of the department on the lead; signed (and replied) orders carry their dates."""
    now = timezone.now()
    values: dict[str, Any] = {
        "lead": lead,
        "department": department(short_name),
        "role": role,
        "status": status,
        "sign_due": now + datetime.timedelta(days=1),
    }
    if status in (OrderStatus.SIGNED, OrderStatus.REPLIED, OrderStatus.ACCEPTED):
        values |= {"signed_at": now, "reply_due": now + datetime.timedelta(days=7)}
    if status in (OrderStatus.REPLIED, OrderStatus.ACCEPTED):
        values |= {"replied_at": now, "reply": "已责令停止培训"}
    return WorkOrder.objects.create(**values)


def dispatched_lead(**fields: Any) -> Lead:
    """A dispatched lead whose lead department is the city market regulator."""
    lead = lead_make(**fields)
    order_make(lead)
    return lead


def case_make(lead: Lead | None = None, **fields: Any) -> Case:
    """An open case on a dispatched lead, handled by the market regulator."""
    lead = lead or dispatched_lead()
    return Case.objects.create(
        lead=lead,
        institution=lead.institution,
        region=lead.region,
        department=department(MARKET),
        **fields,
    )
