"""Scoped reads of checklists, rounds, task tables and inspections.

Who sees what:
- coordinators and supervisors (ROUND_MANAGE) see the rounds, tasks and inspections of their
  places, and the rounds of a larger place that covers theirs (a district round, say);
- an inspector sees only their own tasks, and the inspections they made or took part in.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from bihuan.accounts.models import Assignment, Role, User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.registry.models import Institution, Source
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.screening.models import (
    ChecklistTemplate,
    ChecklistVersion,
    Inspection,
    InspectionParticipant,
    Round,
    Task,
    TaskItem,
)
from bihuan.screening.workflow import VersionStatus
from bihuan.territory.models import Level, Region

MANAGERS = frozenset({Role.SUPERVISOR, Role.COORDINATOR})


def checklist_templates_visible_to(user: object) -> QuerySet[ChecklistTemplate]:
    """Every template for those who author checklists or open rounds; none for anyone else."""
    if can(user, Capability.CHECKLIST_MANAGE) or can(user, Capability.ROUND_MANAGE):
        return ChecklistTemplate.objects.all()
    return ChecklistTemplate.objects.none()


def checklist_versions_visible_to(user: object) -> QuerySet[ChecklistVersion]:
    """Authors see drafts too; round managers see what can be used (published or retired)."""
    if can(user, Capability.CHECKLIST_MANAGE):
        return ChecklistVersion.objects.all()
    if can(user, Capability.ROUND_MANAGE):
        return ChecklistVersion.objects.exclude(status=VersionStatus.DRAFT)
    return ChecklistVersion.objects.none()


def published_checklists() -> QuerySet[ChecklistVersion]:
    """The versions a new round may use: published ones of active templates."""
    return ChecklistVersion.objects.filter(
        status=VersionStatus.PUBLISHED, template__is_active=True
    ).select_related("template")


def _covering_q(user: object, field: str) -> Q:
    """Regions that lie above one of the user's manager places (a larger place covering it)."""
    scope = scope_of(user)
    paths: set[str] = set()
    for role in MANAGERS:
        for path in scope.paths_by_role.get(role, ()):
            parts = [p for p in path.split("/") if p]
            paths |= {"/".join(parts[:i]) + "/" for i in range(1, len(parts))}
    if not paths:
        return Q(pk__in=[])
    return Q(**{f"{field}__path__in": sorted(paths)})


def rounds_managed_by(user: object) -> QuerySet[Round]:
    """Rounds the user may generate, adjust, issue and close: those of their own places."""
    if not can(user, Capability.ROUND_MANAGE):
        return Round.objects.none()
    return Round.objects.filter(scope_of(user).region_q("region", roles=MANAGERS))


def rounds_visible_to(user: object) -> QuerySet[Round]:
    """Rounds of the user's places, of larger places covering them, and rounds with their tasks."""
    q = Q(pk__in=[])
    if can(user, Capability.ROUND_MANAGE):
        q |= scope_of(user).region_q("region", roles=MANAGERS) | _covering_q(user, "region")
    if getattr(user, "is_authenticated", False):
        q |= Q(
            pk__in=Task.objects.filter(inspector_id=getattr(user, "pk", None)).values("round_id")
        )
    return Round.objects.filter(q)


def tasks_managed_by(user: object) -> QuerySet[Task]:
    """Tasks drawn from the user's places (a district round's tasks in their community)."""
    if not can(user, Capability.ROUND_MANAGE):
        return Task.objects.none()
    return Task.objects.filter(scope_of(user).region_q("region", roles=MANAGERS))


def tasks_visible_to(user: object) -> QuerySet[Task]:
    """One's own tasks, and the tasks of one's places for coordinators and supervisors."""
    q = Q(pk__in=[])
    if can(user, Capability.ROUND_MANAGE):
        q |= scope_of(user).region_q("region", roles=MANAGERS)
    if getattr(user, "is_authenticated", False) and scope_of(user).roles:
        q |= Q(inspector_id=getattr(user, "pk", None))
    return Task.objects.filter(q)


def task_items_visible_to(user: object) -> QuerySet[TaskItem]:
    """Items of the tasks the user sees."""
    return TaskItem.objects.filter(task__in=tasks_visible_to(user))


def my_tasks(user: object) -> QuerySet[Task]:
    """The user's own tasks in rounds that were issued (drafts are not theirs yet)."""
    from bihuan.screening.workflow import RoundStatus

    if not getattr(user, "is_authenticated", False) or not scope_of(user).roles:
        return Task.objects.none()
    return Task.objects.filter(
        inspector_id=getattr(user, "pk", None),
        round__status__in=[RoundStatus.ISSUED, RoundStatus.CLOSED],
    )


def inspections_visible_to(user: object) -> QuerySet[Inspection]:
    """Inspections of the user's places for managers; one's own and shared ones for inspectors."""
    q = Q(pk__in=[])
    if can(user, Capability.ROUND_MANAGE):
        q |= scope_of(user).region_q("region", roles=MANAGERS)
    if getattr(user, "is_authenticated", False) and scope_of(user).roles:
        uid = int(getattr(user, "pk", 0) or 0)
        shared = InspectionParticipant.objects.filter(user_id=uid, is_active=True)
        q |= Q(inspector_id=uid) | Q(pk__in=shared.values("inspection_id"))
    return Inspection.objects.filter(q)


def inspections_reviewed_by(user: object) -> QuerySet[Inspection]:
    """Inspections the user may approve or return: in their places, and not their own visits."""
    if not can(user, Capability.ROUND_MANAGE):
        return Inspection.objects.none()
    uid = int(getattr(user, "pk", 0) or 0)
    # One subquery, so that "the same participant row is this user and active" holds together
    # (two conditions in one exclude() across a to-many relation may match different rows).
    took_part = InspectionParticipant.objects.filter(user_id=uid, is_active=True)
    return (
        Inspection.objects.filter(scope_of(user).region_q("region", roles=MANAGERS))
        .exclude(inspector_id=uid)
        .exclude(pk__in=took_part.values("inspection_id"))
    )


def inspectors_of(regions: QuerySet[Region] | list[int]) -> QuerySet[Assignment]:
    """Active inspector assignments of these regions (the pools a round's tasks come from)."""
    return Assignment.objects.filter(
        role=Role.INSPECTOR, is_active=True, user__is_active=True, region__in=regions
    )


def co_inspector_choices(inspection: Inspection) -> QuerySet[User]:
    """People who may be added to a visit: inspectors and coordinators of the same street."""
    street = inspection.region
    if street.level == Level.COMMUNITY and street.parent is not None:
        street = street.parent
    return (
        User.objects.filter(
            is_active=True,
            assignments__is_active=True,
            assignments__role__in=[Role.INSPECTOR, Role.COORDINATOR],
            assignments__region__path__startswith=street.path,
        )
        .exclude(pk=inspection.inspector_id)
        .distinct()
        .order_by("display_name", "username")
    )


def field_finds_reviewed_by(user: object) -> QuerySet[Institution]:
    """Institutions found in the field awaiting approval in the places the user manages."""
    if not can(user, Capability.ROUND_MANAGE):
        return Institution.objects.none()
    return Institution.objects.filter(
        scope_of(user).region_q("region", roles=MANAGERS),
        source=Source.FIELD,
        status=InstitutionStatus.PENDING,
        merged_into__isnull=True,
    )
