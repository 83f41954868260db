"""Loads the demo city through the services, so that it is audited like any other change.

Idempotent: every step looks its record up first, so a second run creates nothing.
"""

from __future__ import annotations

from django.db import transaction

from bihuan.accounts import services as account_services
from bihuan.accounts.models import Assignment, Department, User
from bihuan.demo import data
from bihuan.territory import services as territory_services
from bihuan.territory.models import Area, Region, ResponsiblePartyKind, Sentinel


@transaction.atomic
def load_demo() -> dict[str, int]:
    """Create whatever of the demo city is missing; returns how many records were created."""
    created = {"regions": 0, "departments": 0, "sentinels": 0, "areas": 0, "users": 0, "roles": 0}
    for code, name, parent, level, synthetic in data.REGIONS:
        _, outcome = territory_services.region_upsert(
            actor=None,
            code=code,
            name=name,
            level=level,
            parent_code=parent,
            is_synthetic=synthetic,
        )
        created["regions"] += outcome == "created"
    regions = {r.code: r for r in Region.objects.filter(code__in=[r[0] for r in data.REGIONS])}
    for kind, name, short, jurisdiction in data.DEPARTMENTS:
        _, outcome = account_services.department_upsert(
            actor=None, kind=kind, name=name, short_name=short, jurisdiction=regions[jurisdiction]
        )
        created["departments"] += outcome == "created"
    spec = data.AREA
    area = Area.objects.filter(region=regions[spec.region], name=spec.name).first()
    if area is None:
        area = territory_services.area_create(
            actor=None,
            name=spec.name,
            region=regions[spec.region],
            communities=[regions[c] for c in spec.communities],
            school_district=spec.school_district,
            is_synthetic=True,
        )
        created["areas"] += 1
        kinds = {k.code: k for k in ResponsiblePartyKind.objects.all()}
        for kind_code, name, title, phone in data.AREA_RESPONSIBLES:
            territory_services.area_responsible_add(
                actor=None, area=area, kind=kinds[kind_code], name=name, title=title, phone=phone
            )
    for kind, name, community, address, synthetic in data.SENTINELS:
        if not Sentinel.objects.filter(region=regions[community], kind=kind, name=name).exists():
            territory_services.sentinel_create(
                actor=None,
                kind=kind,
                name=name,
                region=regions[community],
                area=area if community in spec.communities else None,
                address=address,
                is_synthetic=synthetic,
            )
            created["sentinels"] += 1
    for username, display, phone, role, region_code, extra in data.USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = account_services.user_create(
                actor=None,
                username=username,
                password=data.DEMO_PASSWORD,
                display_name=display,
                phone=phone,
                is_demo=True,
                is_synthetic=True,
            )
            created["users"] += 1
        region = regions[region_code]
        if Assignment.objects.filter(user=user, role=role, region=region, is_active=True).exists():
            continue
        department = sentinel = None
        role_area = None
        if role == "officer":
            department = Department.objects.get(short_name=extra, jurisdiction=region)
        elif role == "school_sentinel":
            sentinel = Sentinel.objects.get(name=extra, region=region)
        elif role == "area_responsible":
            role_area = area
        account_services.assignment_grant(
            actor=None,
            user=user,
            role=role,
            region=region,
            department=department,
            sentinel=sentinel,
            area=role_area,
        )
        created["roles"] += 1
    return created
