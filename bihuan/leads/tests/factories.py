"""Leads of the demo story built through the services, stage by stage, for the tests of the loop.

The story: the school sentinel of 体育路学校 reports a home-based one-on-one class in 文昌社区; the
bureau accepts it as B3 and dispatches it to 孝南区教育局 (lead) and 孝南区市场监管局 (assisting).
Each helper takes the people who act; the conftest personas are the usual ones.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image

from bihuan.accounts.models import Department, User
from bihuan.demo import data
from bihuan.demo.loader import load_demo
from bihuan.leads import services
from bihuan.leads.models import Lead, ViolationType, WorkOrder
from bihuan.leads.workflow import ClosureReason, LeadSource
from bihuan.registry import services as registry_services
from bihuan.registry.models import Category, Institution, Source
from bihuan.territory.models import Region, Sentinel

SCHOOL = "体育路学校"
EDUCATION_XIAONAN = "孝南区教育局"
MARKET_XIAONAN = "孝南区市场监管局"
MARKET_CITY = "市市场监管局"
POLICE_CITY = "市公安局"
EDUCATION_CITY = "市教育局"
PLACE = "文昌社区体育路某小区3栋501室"
STORY = "有家长反映，该住户以住家教师名义为初中生开展一对一数学培训。"


def _tiny_image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 60, 40)).save(out, format=kind)
    return out.getvalue()


# Real (tiny) images: evidence is opened by Pillow, not only recognised by its first bytes.
JPEG = _tiny_image("JPEG")
PNG = _tiny_image("PNG")
PDF = b"%PDF-1.4\n" + b"0" * 64


@contextmanager
def city_for_module(django_db_blocker: Any) -> Iterator[None]:
    """The demo city, written once for a test module and rolled back after it.

    Each test still runs in its own savepoint (pytest-django's ``db``), so what one test writes
    the next never sees; loading the city for every test would take most of the run.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo()
        yield
        transaction.set_rollback(True)


def region(code: str = data.WENCHANG) -> Region:
    return Region.objects.get(code=code)


def department(short_name: str) -> Department:
    return Department.objects.get(short_name=short_name)


def school() -> Sentinel:
    return Sentinel.objects.get(name=SCHOOL)


def types(*codes: str) -> list[ViolationType]:
    return list(ViolationType.objects.filter(code__in=codes))


def upload(content: bytes = JPEG, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def institution_make(
    name: str = "孝南区启明学科辅导中心",
    region_code: str = data.WENCHANG,
    category: str = Category.SUBJECT,
) -> Institution:
    """A registered institution, created by the registry's own service (as an import would)."""
    return registry_services.institution_create(
        actor=None, name=name, region=region(region_code), source=Source.IMPORT, category=category
    )


def lead_report(reporter: User, **overrides: Any) -> Lead:
    """The school sentinel's report of the one-on-one class (a NEW lead owned by the bureau)."""
    fields: dict[str, Any] = {
        "source": LeadSource.SCHOOL,
        "description": STORY,
        "place_name": PLACE,
        "sentinel": school(),
    }
    fields.update(overrides)
    return services.lead_create(actor=reporter, **fields)


def lead_tip(**overrides: Any) -> Lead:
    """A public tip (no account) about a place in 文昌社区, or where ``region`` says."""
    fields: dict[str, Any] = {
        "source": LeadSource.TIP,
        "description": STORY,
        "place_name": PLACE,
        "region": region(),
        "reporter_name": "张女士",
        "reporter_phone": "13812345678",
    }
    fields.update(overrides)
    return services.lead_create(actor=None, **fields)


def lead_accepted(supervisor: User, codes: Sequence[str] = ("B3",), **report: Any) -> Lead:
    """A tip accepted as ``codes`` by the supervisor."""
    lead = lead_tip(**report)
    return services.lead_accept(actor=supervisor, lead=lead, violation_types=types(*codes))


def lead_dispatched(supervisor: User, codes: Sequence[str] = ("B3",), **report: Any) -> Lead:
    """A tip accepted as ``codes`` and dispatched by the supervisor."""
    lead = lead_accepted(supervisor, codes, **report)
    return services.lead_dispatch(actor=supervisor, lead=lead)


def order_of(lead: Lead, short_name: str) -> WorkOrder:
    """The live work order of the department on the lead."""
    return lead.work_orders.exclude(status__in=["reassigned", "withdrawn"]).get(
        department__short_name=short_name
    )


def orders_signed(lead: Lead, education: User, market: User) -> tuple[WorkOrder, WorkOrder]:
    """Both departments of the B3 story sign their orders."""
    first = services.work_order_sign(actor=education, order=order_of(lead, EDUCATION_XIAONAN))
    second = services.work_order_sign(actor=market, order=order_of(lead, MARKET_XIAONAN))
    return first, second


def orders_replied(lead: Lead, education: User, market: User) -> tuple[WorkOrder, WorkOrder]:
    """Both departments of the B3 story sign and reply."""
    first, second = orders_signed(lead, education, market)
    first = services.work_order_reply(
        actor=education, order=first, reply="已上门核查，责令停止培训"
    )
    second = services.work_order_reply(actor=market, order=second, reply="已约谈家政公司负责人")
    return first, second


def lead_verified(supervisor: User, education: User, market: User, **report: Any) -> Lead:
    """The B3 story up to the bureau accepting both replies."""
    lead = lead_dispatched(supervisor, **report)
    for order in orders_replied(lead, education, market):
        services.work_order_accept(actor=supervisor, order=order)
    lead.refresh_from_db()
    return lead


def lead_closed(supervisor: User, education: User, market: User, **report: Any) -> Lead:
    """The B3 story closed as rectified."""
    lead = lead_verified(supervisor, education, market, **report)
    return services.lead_close(actor=supervisor, lead=lead, reason=ClosureReason.RECTIFIED)


def fingerprint(*labels: str) -> dict[str, tuple[int, str]]:
    """Row count and digest of every row of the apps named (default: the loop and its log)."""
    state: dict[str, tuple[int, str]] = {}
    for label in labels or ("leads", "audit", "notifications"):
        for model in apps.get_app_config(label).get_models():
            rows = list(model._default_manager.order_by("pk").values_list())
            state[model._meta.label] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return state
