"""Writes to screening rounds: open (and generate), adjust, issue, close.

Every service locks the round (``select_for_update``), checks the move against
``workflow.ROUND_MOVES`` and that the round lies in the actor's manager places
(``selectors.rounds_managed_by``), saves, writes one audit event, and leaves notifications to
``transaction.on_commit``.

Regeneration never deletes: nothing in Bihuan is hard-deleted, so ``round_regenerate`` closes the
draft (recording which round replaced it) and opens a fresh round with the same place, period
and checklist. The closed draft was never issued, so it is nobody's "last round" for rotation.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import Assignment, Role, User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.audit.services import event_record
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.notifications.services import notify
from bihuan.registry.models import Institution
from bihuan.screening import generation
from bihuan.screening.models import ChecklistVersion, Round, Task, TaskItem
from bihuan.screening.selectors import MANAGERS, published_checklists, rounds_managed_by
from bihuan.screening.workflow import ROUND_MOVES, RoundStatus, TaskKind
from bihuan.territory.models import Level, Region

# Who may be given institutions or a sweep: those who hold an inspecting role.
TASK_ROLES = (Role.INSPECTOR, Role.COORDINATOR)
MAX_NAME = 100
# A province's bureau may screen the whole province at once (the benchmark's case).
ROUND_LEVELS = (Level.PROVINCE, Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY)
MAX_INSTRUCTIONS = 2000


def _require_manager(actor: Any) -> None:
    if actor is None or not can(actor, Capability.ROUND_MANAGE):
        raise NotAllowed(_("Only coordinators and supervisors manage screening rounds."))


def _lock_round(actor: Any, round_: Round) -> Round:
    """The round, locked, if the actor manages it; NotAllowed otherwise."""
    _require_manager(actor)
    # Only the round row is locked, not the regions the scope filter joins.
    locked = rounds_managed_by(actor).select_for_update(of=("self",)).filter(pk=round_.pk).first()
    if locked is None:
        raise NotAllowed(_("This round is outside your place."))
    return locked


def _move(round_: Round, target: str) -> None:
    if target not in ROUND_MOVES[round_.status]:
        raise ServiceError(
            _("A round that is “%(a)s” cannot become “%(b)s”.")
            % {"a": round_.get_status_display(), "b": RoundStatus(target).label}
        )
    round_.status = target


def _require_draft(round_: Round) -> None:
    if round_.status != RoundStatus.DRAFT:
        raise ServiceError(_("Tables can be adjusted only before the round is issued."))


def _check_open(
    actor: Any,
    region: Region,
    name: str,
    starts_on: datetime.date,
    ends_on: datetime.date,
    checklist: ChecklistVersion,
) -> str:
    _require_manager(actor)
    inside = Region.objects.filter(pk=region.pk).filter(scope_of(actor).region_q(roles=MANAGERS))
    if not inside.exists():
        raise NotAllowed(_("This place is outside your area."))
    if region.level not in ROUND_LEVELS:
        raise ServiceError(
            _("A round covers a province, city, district, street or community."), field="region"
        )
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ServiceError(_("Give the round a name of at most 100 characters."), field="name")
    if ends_on < starts_on:
        raise ServiceError(_("The period must end on or after the day it starts."), field="ends_on")
    if not published_checklists().filter(pk=checklist.pk).exists():
        raise ServiceError(_("Choose a published checklist."), field="checklist")
    return name


def _open(
    actor: Any,
    region: Region,
    name: str,
    starts_on: datetime.date,
    ends_on: datetime.date,
    checklist: ChecklistVersion,
) -> Round:
    round_ = Round.objects.create(
        name=name,
        region=region,
        checklist=checklist,
        starts_on=starts_on,
        ends_on=ends_on,
        created_by=actor,
    )
    round_.summary = generation.generate(round_)
    round_.save(update_fields=["summary"])
    counts = {k: v for k, v in round_.summary.items() if k != "unstaffed"}
    event_record(
        actor=actor,
        verb="round.opened",
        obj=round_,
        after={
            "status": round_.status,
            "region": region.code,
            "checklist": checklist.pk,
            "starts_on": starts_on,
            "ends_on": ends_on,
            **counts,
            "unstaffed": len(round_.summary["unstaffed"]),
        },
    )
    return round_


@transaction.atomic
def round_open(
    *,
    actor: Any,
    region: Region,
    name: str,
    starts_on: datetime.date,
    ends_on: datetime.date,
    checklist: ChecklistVersion,
) -> Round:
    """Open a draft round of a place and generate its task tables at once."""
    name = _check_open(actor, region, name, starts_on, ends_on, checklist)
    return _open(actor, region, name, starts_on, ends_on, checklist)


@transaction.atomic
def round_regenerate(*, actor: Any, round_: Round) -> Round:
    """Replace a draft by a freshly generated round (the draft is closed, never deleted)."""
    round_ = _lock_round(actor, round_)
    _require_draft(round_)
    name = _check_open(
        actor, round_.region, round_.name, round_.starts_on, round_.ends_on, round_.checklist
    )
    fresh = _open(actor, round_.region, name, round_.starts_on, round_.ends_on, round_.checklist)
    _move(round_, RoundStatus.CLOSED)
    round_.closed_at = timezone.now()
    round_.summary = dict(round_.summary, superseded_by=fresh.pk)
    round_.save(update_fields=["status", "closed_at", "summary"])
    event_record(
        actor=actor,
        verb="round.regenerated",
        obj=round_,
        before={"status": RoundStatus.DRAFT},
        after={"status": round_.status, "superseded_by": fresh.pk},
    )
    return fresh


def _street_of(region: Region) -> Region:
    """The street a region belongs to (itself above street level)."""
    if region.level == Level.COMMUNITY and region.parent_id is not None:
        return Region.objects.get(pk=region.parent_id)
    return region


def _check_taker(round_: Round, place: Region, inspector: User) -> Region:
    """The region the inspector's task belongs to, if they may take work in ``place``.

    Allowed: an active inspector or coordinator of the place's street, or of the round's place.
    """
    street = _street_of(place)
    rows = list(
        Assignment.objects.filter(
            user_id=inspector.pk,
            user__is_active=True,
            is_active=True,
            role__in=TASK_ROLES,
        )
        .filter(
            Q(region__path__startswith=street.path) | Q(region__path__startswith=round_.region.path)
        )
        .order_by("region__path")
        .values_list("region_id", "region__path")
    )
    if not rows:
        raise ServiceError(
            _("%(name)s is not an inspector of this street or of the round's place.")
            % {"name": inspector.display_name or inspector.username},
            field="inspector",
        )
    for region_id, path in rows:
        if path.startswith(round_.region.path):
            return Region(pk=region_id)
    return round_.region


def _table_of(round_: Round, inspector: User, home: Region) -> Task:
    """The inspector's institutions table in the round, made when they have none yet."""
    task = Task.objects.filter(
        round=round_, inspector=inspector, kind=TaskKind.INSTITUTIONS
    ).first()
    if task is None:
        task = Task.objects.create(
            round=round_, inspector=inspector, kind=TaskKind.INSTITUTIONS, region_id=home.pk
        )
    return task


def _next_position(task: Task) -> int:
    return (task.items.aggregate(top=Max("position"))["top"] or 0) + 1


@transaction.atomic
def task_item_move(*, actor: Any, item: TaskItem, inspector: User) -> TaskItem:
    """Give one institution of a draft round to another inspector (put last on their table)."""
    round_ = _lock_round(actor, item.round)
    _require_draft(round_)
    item = (
        TaskItem.objects.select_for_update(of=("self",))
        .select_related("task", "institution")
        .get(pk=item.pk, round=round_)
    )
    if item.task.inspector_id == inspector.pk:
        return item
    institution = item.institution
    place = institution.community or institution.region
    home = _check_taker(round_, place, inspector)
    before = {"inspector": item.task.inspector_id, "task": item.task_id}
    task = _table_of(round_, inspector, home)
    item.task = task
    item.position = _next_position(task)
    item.save(update_fields=["task", "position"])
    event_record(
        actor=actor,
        verb="task_item.moved",
        obj=item,
        before=before,
        after={"inspector": inspector.pk, "task": task.pk, "round": round_.pk},
    )
    return item


def _unstaffed_left(round_: Round) -> list[int]:
    listed = set(round_.summary.get("unstaffed", []))
    if not listed:
        return []
    taken = set(
        TaskItem.objects.filter(round=round_, institution_id__in=listed).values_list(
            "institution_id", flat=True
        )
    )
    return sorted(listed - taken)


def unstaffed_left(round_: Round) -> list[int]:
    """Institutions generation could not staff and nobody has taken by hand yet."""
    return _unstaffed_left(round_)


@transaction.atomic
def task_item_add(
    *, actor: Any, round_: Round, institution: Institution, inspector: User
) -> TaskItem:
    """Put an institution the round lists but nobody has (an unstaffed one) on a table."""
    round_ = _lock_round(actor, round_)
    _require_draft(round_)
    if not generation.listed_institutions(round_.region).filter(pk=institution.pk).exists():
        raise ServiceError(
            _("This institution is not screened in this round."), field="institution"
        )
    if TaskItem.objects.filter(round=round_, institution=institution).exists():
        raise ServiceError(_("This institution is already on a table of the round."))
    home = _check_taker(round_, institution.community or institution.region, inspector)
    task = _table_of(round_, inspector, home)
    fact = generation.institution_facts(round_, institution)
    item = TaskItem.objects.create(
        round=round_,
        task=task,
        institution=institution,
        position=_next_position(task),
        risk=fact.risk,
        open_leads=fact.open_leads,
        past_violations=fact.past_violations,
        days_since_inspection=fact.days_since_inspection,
        previous_inspector_id=fact.previous_inspector,
    )
    event_record(
        actor=actor,
        verb="task_item.added",
        obj=item,
        after={"inspector": inspector.pk, "task": task.pk, "round": round_.pk},
    )
    return item


@transaction.atomic
def task_sweep_add(
    *, actor: Any, round_: Round, inspector: User, region: Region, instructions: str
) -> Task:
    """Give an inspector a sweep: walk these streets and report what they find."""
    round_ = _lock_round(actor, round_)
    if round_.status == RoundStatus.CLOSED:
        raise ServiceError(_("A closed round takes no more tasks."))
    if not region.path.startswith(round_.region.path):
        raise ServiceError(
            _("The sweep's place must lie inside the round's place."), field="region"
        )
    instructions = instructions.strip()
    if not instructions or len(instructions) > MAX_INSTRUCTIONS:
        raise ServiceError(
            _("Say where to walk and what to look for (at most 2000 characters)."),
            field="instructions",
        )
    _check_taker(round_, region, inspector)
    task = Task.objects.create(
        round=round_,
        inspector=inspector,
        kind=TaskKind.SWEEP,
        region=region,
        instructions=instructions,
    )
    event_record(
        actor=actor,
        verb="task.sweep_added",
        obj=task,
        after={"inspector": inspector.pk, "region": region.code, "round": round_.pk},
    )
    if round_.status == RoundStatus.ISSUED:
        _notify_on_commit(round_, [task])
    return task


def _notify_on_commit(round_: Round, tasks: list[Task]) -> None:
    """Tell each inspector once, after commit, with a link to their own task."""
    targets = [(t.inspector_id, t.pk) for t in tasks]
    title = _("New screening task: %(round)s") % {"round": round_.name}
    body = _("%(start)s to %(end)s") % {"start": round_.starts_on, "end": round_.ends_on}

    def send() -> None:
        users = {u.pk: u for u in User.objects.filter(pk__in=[i for i, _t in targets])}
        for inspector_id, task_pk in targets:
            notify(
                users=[users[inspector_id]],
                kind="round.issued",
                title=title[:200],
                body=body,
                url=reverse("screening:task", args=[task_pk]),
                key=f"round.issued:{round_.pk}",
            )

    transaction.on_commit(send)


@transaction.atomic
def round_issue(*, actor: Any, round_: Round) -> Round:
    """Hand the tables to the inspectors: every listed institution must have an inspector."""
    round_ = _lock_round(actor, round_)
    _move(round_, RoundStatus.ISSUED)
    left = _unstaffed_left(round_)
    if left:
        raise ServiceError(
            _("%(n)d institutions have no inspector yet; assign them before issuing.")
            % {"n": len(left)}
        )
    # An institutions table emptied by moves is kept (never deleted) but tells nobody anything.
    tasks = list(
        Task.objects.filter(round=round_)
        .annotate(item_count=Count("items"))
        .filter(Q(kind=TaskKind.SWEEP) | Q(item_count__gt=0))
        .order_by("inspector_id", "pk")
    )
    if not tasks:
        raise ServiceError(_("The round has no task to issue."))
    round_.issued_at = timezone.now()
    round_.issued_by = actor
    round_.save(update_fields=["status", "issued_at", "issued_by"])
    # One notice per inspector, with their first task (a table before a sweep).
    first: dict[int, Task] = {}
    for task in sorted(tasks, key=lambda t: (t.kind != TaskKind.INSTITUTIONS, t.pk)):
        first.setdefault(task.inspector_id, task)
    event_record(
        actor=actor,
        verb="round.issued",
        obj=round_,
        before={"status": RoundStatus.DRAFT},
        after={"status": round_.status, "tasks": len(tasks), "inspectors": len(first)},
    )
    _notify_on_commit(round_, list(first.values()))
    return round_


@transaction.atomic
def round_close(*, actor: Any, round_: Round) -> Round:
    """End a round: its tables stay as they are, for the record and the figures."""
    round_ = _lock_round(actor, round_)
    before = round_.status
    _move(round_, RoundStatus.CLOSED)
    round_.closed_at = timezone.now()
    round_.save(update_fields=["status", "closed_at"])
    event_record(
        actor=actor,
        verb="round.closed",
        obj=round_,
        before={"status": before},
        after={"status": round_.status},
    )
    return round_
