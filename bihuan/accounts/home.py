"""Each role's next work, as shown on its home page."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bihuan.accounts.models import Department, Role, User
from bihuan.accounts.scope import scope_of
from bihuan.accounts.selectors import departments_visible_to, users_visible_to
from bihuan.audit.models import Event
from bihuan.audit.selectors import events_visible_to
from bihuan.territory.models import Area, Level, Region, Sentinel
from bihuan.territory.selectors import (
    areas_visible_to,
    regions_visible_to,
    sentinels_visible_to,
)


@dataclass(frozen=True)
class Item:
    """One line of a panel: what it is, where it opens, and a short note."""

    label: str
    url: str = ""
    note: str = ""


def item_for(obj: object) -> Item:
    """The line that shows a record on a home panel."""
    if isinstance(obj, Region):
        return Item(obj.name, reverse("territory:region", args=[obj.code]), obj.code)
    if isinstance(obj, Area):
        return Item(obj.name, reverse("territory:area", args=[obj.pk]), str(obj.region))
    if isinstance(obj, Sentinel):
        return Item(obj.name, reverse("territory:sentinel", args=[obj.pk]), obj.get_kind_display())
    if isinstance(obj, Department):
        return Item(obj.name, reverse("accounts:department", args=[obj.pk]), str(obj.jurisdiction))
    if isinstance(obj, User):
        return Item(str(obj), reverse("accounts:user", args=[obj.pk]), obj.username)
    if isinstance(obj, Event):
        local = timezone.localtime(obj.at)
        return Item(f"{local:%m-%d %H:%M} {obj.actor_label} {obj.verb}", note=obj.ip or "")
    return Item(str(obj))


@dataclass
class Panel:
    """One block of the home page: a title, a number or a list, and where to act on it."""

    title: Any
    items: list[Item] = field(default_factory=list)
    empty: Any = ""
    count: int | None = None
    url_name: str = ""


def panels_for(user: User) -> list[Panel]:
    """The panels of every role the user holds, in a stable order."""
    scope = scope_of(user)
    panels: list[Panel] = []
    if scope.roles & {Role.SUPERVISOR, Role.COORDINATOR, Role.AREA_RESPONSIBLE}:
        panels += _place_panels(user)
    if Role.COORDINATOR in scope.roles:
        panels.append(_inspectors_panel(user))
    if scope.roles & {Role.INSPECTOR, Role.SCHOOL_SENTINEL, Role.OFFICER}:
        panels += _own_place_panels(user)
    if Role.SYSTEM_ADMIN in scope.roles:
        panels += _system_admin_panels()
    if Role.SECURITY_ADMIN in scope.roles:
        panels += _security_admin_panels()
    if Role.AUDIT_ADMIN in scope.roles:
        panels += _auditor_panels(user)
    return panels


def _place_panels(user: User) -> list[Panel]:
    areas = areas_visible_to(user).filter(is_active=True)
    unstaffed = list(
        areas.annotate(
            parties=Count("responsibles", filter=Q(responsibles__is_active=True))
        ).filter(parties=0)[:10]
    )
    communities = regions_visible_to(user).filter(level=Level.COMMUNITY, is_active=True)
    without_sentinel = list(communities.filter(sentinels__isnull=True)[:10])
    return [
        Panel(
            _("Areas without a named responsible party"),
            items=[item_for(a) for a in unstaffed],
            empty=_("Every area has its responsible parties."),
            url_name="territory:areas",
        ),
        Panel(
            _("Communities that are not yet sentinels"),
            items=[item_for(c) for c in without_sentinel],
            empty=_("Every community watches as a sentinel."),
            count=communities.filter(sentinels__isnull=True).count(),
            url_name="territory:sentinels",
        ),
    ]


def _inspectors_panel(user: User) -> Panel:
    inspectors = (
        users_visible_to(user)
        .filter(assignments__role=Role.INSPECTOR, assignments__is_active=True, is_active=True)
        .distinct()
    )
    return Panel(
        _("Inspectors of your community"),
        items=[item_for(u) for u in inspectors[:20]],
        empty=_("No inspector yet: ask the security administrator to assign some."),
        count=inspectors.count(),
        url_name="accounts:users",
    )


def _own_place_panels(user: User) -> list[Panel]:
    scope = scope_of(user)
    regions = list(regions_visible_to(user).filter(path__in=scope.paths))
    sentinels = list(sentinels_visible_to(user).filter(pk__in=scope.sentinel_ids))
    departments = list(departments_visible_to(user).filter(pk__in=scope.department_ids))
    places: list[object] = [*regions, *sentinels, *departments]
    panels = [Panel(_("Your place"), items=[item_for(p) for p in places])]
    areas = list(areas_visible_to(user).filter(is_active=True)[:5])
    panels.append(
        Panel(
            _("Areas and their responsible parties"),
            items=[item_for(a) for a in areas],
            empty=_("Your place is not yet part of an area."),
            url_name="territory:areas",
        )
    )
    return panels


def _system_admin_panels() -> list[Panel]:
    without_role = User.objects.filter(is_active=True, assignments__isnull=True)
    return [
        Panel(
            _("Accounts without any role"),
            items=[item_for(u) for u in without_role[:10]],
            count=without_role.count(),
            empty=_("Every account has a role."),
            url_name="accounts:users",
        ),
    ]


def _security_admin_panels() -> list[Panel]:
    now = timezone.now()
    locked = User.objects.filter(locked_until__gt=now)
    initial = User.objects.filter(is_active=True, must_change_password=True, is_demo=False)
    return [
        Panel(
            _("Locked accounts"),
            items=[item_for(u) for u in locked[:10]],
            count=locked.count(),
            empty=_("No account is locked."),
            url_name="accounts:users",
        ),
        Panel(
            _("Accounts still on their initial password"),
            items=[item_for(u) for u in initial[:10]],
            count=initial.count(),
            empty=_("Every account has changed its initial password."),
            url_name="accounts:users",
        ),
    ]


def _auditor_panels(user: User) -> list[Panel]:
    since = timezone.now() - datetime.timedelta(days=1)
    failures = events_visible_to(user).filter(
        verb__in=["login.failed", "login.locked", "login.refused_locked"], at__gte=since
    )
    return [
        Panel(
            _("Failed logins in the last 24 hours"),
            items=[item_for(e) for e in failures[:10]],
            count=failures.count(),
            empty=_("No failed login in the last 24 hours."),
            url_name="audit:events",
        )
    ]
