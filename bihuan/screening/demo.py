"""The demo screening round: the article's story as records.

文昌社区's coordinator (wenchang, 赵丽) opens this quarter's round ("文昌社区 2026年第4期排查")
with the bureau's default checklist, gives the community's three institutions to the volunteer
杨铁柱 (yangtiezhu: "he visits the 3 institutions"), adds a sweep of 体育路 and 文昌路 for 钱红
(inspector2), and issues the round. Made through the round services by the demo personas, after
the demo registry and leads.

Idempotent: the round is looked up by its name and place first, so a second run creates nothing.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from bihuan.accounts.models import User
from bihuan.demo import data
from bihuan.screening import round_services as services
from bihuan.screening.models import ChecklistVersion, Round
from bihuan.screening.workflow import VersionStatus
from bihuan.territory.models import Region

SWEEP = "沿体育路、文昌路步行排查，发现未登记的培训机构随手上报"
CHECKLIST_TEMPLATE = "default"


def demo_period(today: datetime.date) -> tuple[str, datetime.date, datetime.date]:
    """The round's name and period: the quarter of ``today`` (the demo is always current)."""
    quarter = (today.month - 1) // 3
    starts_on = datetime.date(today.year, quarter * 3 + 1, 1)
    following = datetime.date(today.year + (quarter == 3), (quarter * 3 + 3) % 12 + 1, 1)
    name = f"文昌社区 {today.year}年第{quarter + 1}期排查"
    return name, starts_on, following - datetime.timedelta(days=1)


def _user(username: str) -> User:
    return User.objects.get(username=username)


@transaction.atomic
def load_demo_screening() -> dict[str, int]:
    """Open, adjust and issue the demo round unless it exists; counts of what was made."""
    created = {"rounds": 0, "items": 0, "sweeps": 0}
    wenchang = Region.objects.get(code=data.WENCHANG)
    name, starts_on, ends_on = demo_period(timezone.localdate())
    if Round.objects.filter(region=wenchang, name=name).exists():
        return created
    checklist = (
        ChecklistVersion.objects.filter(
            template__code=CHECKLIST_TEMPLATE, status=VersionStatus.PUBLISHED
        )
        .order_by("-number")
        .first()
    )
    if checklist is None:
        # The default checklist is published by a migration; without it there is nothing to use.
        return created
    coordinator = _user("wenchang")
    volunteer = _user("yangtiezhu")
    round_ = services.round_open(
        actor=coordinator,
        region=wenchang,
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        checklist=checklist,
    )
    for item in round_.items.exclude(task__inspector=volunteer).order_by("position", "pk"):
        services.task_item_move(actor=coordinator, item=item, inspector=volunteer)
    services.task_sweep_add(
        actor=coordinator,
        round_=round_,
        inspector=_user("inspector2"),
        region=wenchang,
        instructions=SWEEP,
    )
    services.round_issue(actor=coordinator, round_=round_)
    created["rounds"] = 1
    created["items"] = round_.items.count()
    created["sweeps"] = 1
    return created
