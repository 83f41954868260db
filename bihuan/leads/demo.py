"""Demo leads: a tip waiting in the bureau's queue, a lead in the departments' hands, a closed one.

Made through the services by the demo personas, so they carry the same events, deadlines and
notifications as real ones. Idempotent: each lead is looked up by its description first.
"""

from __future__ import annotations

from django.db import transaction

from bihuan.accounts.models import User
from bihuan.leads import services
from bihuan.leads.models import Lead, ViolationType
from bihuan.leads.workflow import ClosureReason, LeadSource, OrderStatus
from bihuan.registry.models import Institution
from bihuan.territory.models import Region, Sentinel

TIP = (
    "家长反映：文昌社区文昌小区5栋一居民家中长期开设初中数学一对一辅导，"
    "每周六、周日全天上课，按课时收费，自称“住家教师”。"
)
IN_HAND = "学校老师反映：槐荫社区一托管班在周末为小学生集中讲授语文、数学课程。"
CLOSED = "社区排查发现：一家培训机构以“思维训练”名义开展小学奥数培训，已收取学费。"


def _user(username: str) -> User:
    return User.objects.get(username=username)


@transaction.atomic
def load_demo_leads() -> dict[str, int]:
    """Create the missing demo leads; returns how many were created."""
    created = 0
    wenchang = Region.objects.get(code="420902003001")
    if not Lead.objects.filter(description=TIP).exists():
        services.lead_create(
            actor=None,
            source=LeadSource.TIP,
            description=TIP,
            region=wenchang,
            place_name="文昌小区5栋2单元301室",
            address="孝感市孝南区广场街道文昌社区文昌小区5栋",
            reporter_name="李女士",
            reporter_phone="13912345678",
        )
        created += 1
    supervisor = _user("supervisor")
    if not Lead.objects.filter(description=IN_HAND).exists():
        school = _user("school")
        sentinel = Sentinel.objects.get(name="体育路学校")
        place = Institution.objects.filter(
            name__contains="托管班", community__code="420902003002", merged_into__isnull=True
        ).first()
        lead = services.lead_create(
            actor=school,
            source=LeadSource.SCHOOL,
            description=IN_HAND,
            sentinel=sentinel,
            institution=place,
            place_name="" if place else "槐荫社区某托管班",
            address="" if place else "孝感市孝南区广场街道槐荫社区",
        )
        lead = services.lead_accept(
            actor=supervisor, lead=lead, violation_types=[ViolationType.objects.get(code="B6")]
        )
        lead = services.lead_dispatch(actor=supervisor, lead=lead)
        order = lead.work_orders.get(role="lead")
        officer = _user("xnjiaoyu")
        services.work_order_sign(actor=officer, order=order)
        created += 1
    if not Lead.objects.filter(description=CLOSED).exists():
        lead = services.lead_create(
            actor=supervisor,
            source=LeadSource.INSPECTION,
            description=CLOSED,
            region=wenchang,
            place_name="启智思维训练中心",
            address="孝感市孝南区广场街道文昌社区文昌路18号",
        )
        lead = services.lead_accept(
            actor=supervisor, lead=lead, violation_types=[ViolationType.objects.get(code="B7")]
        )
        lead = services.lead_dispatch(actor=supervisor, lead=lead)
        officers = {"education": _user("xnjiaoyu"), "market": _user("xnmarket")}
        for order in lead.work_orders.select_related("department"):
            officer = officers[order.department.kind]
            services.work_order_sign(actor=officer, order=order)
            services.work_order_reply(
                actor=officer,
                order=order,
                reply="已现场核查，责令停止违规培训，督促退还学费；已约谈举办者。",
            )
        for order in lead.work_orders.filter(status=OrderStatus.REPLIED):
            services.work_order_accept(actor=supervisor, order=order)
        lead.refresh_from_db()
        services.lead_close(
            actor=supervisor, lead=lead, reason=ClosureReason.PENALISED, note="已责令整改并退费"
        )
        created += 1
    return {"leads": created}
