"""Screening's two headline figures, and the rows behind them, for any period and place.

PRODUCT.md defines them:

* Inspector person-times (出动检查人员人次): "Σ over inspections and joint operations of the
  distinct people who took part".
* Institutions screened (摸排机构家数): "distinct institutions with at least one approved
  inspection in the period (also shown: visits, 家次)".

How those words become queries:

* The period is a range of calendar days in Asia/Shanghai, both ends included. An inspection
  belongs to the day of its ``visited_at``; a joint operation to its date (``planned_for``).
* Only APPROVED inspections count, once each however many versions they went through (a visit
  returned for correction and approved later is one visit). Drafts, submitted and returned
  inspections do not count. A field find counts once its inspection is approved (which needs the
  institution approved first).
* Person-times: each approved inspection adds its participants who took part (one row per person
  per inspection, ``InspectionParticipant.is_active``), whatever was found at the door (the people
  went out even when the place had closed down); the same person on two visits the same day
  counts twice. Each joint operation that took place (status RECORDED: carried out and recorded;
  proposed, confirmed-but-not-recorded and declined ones did not happen) adds its participants who
  took part, a user once per operation and a person without an account once per operation for
  each distinct (name, department).
* Screened: only visits whose outcome is VISITED (inspected on site) screen an institution; a
  visit that found it closed, not at the address, or was refused entry is approved as a record of
  the attempt but screened nothing, so it counts neither as 家 nor as 家次. An institution merged
  into another counts as the record it was merged into (its survivor), so a duplicate found and
  merged later is not counted twice (a merge re-points earlier duplicates at the new survivor,
  so one step of ``merged_into`` always reaches the record that is kept).
* Place: an inspection's ``region`` (the institution's place when visited), a joint operation's
  ``region``, at or under the given region; ``None`` means everywhere. These functions do not
  scope by user: callers pass a region the user may see.

Each figure is computed from the queryset of its rows (``*_records``), so a drill-down always
adds up to the number shown.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Count, Min, QuerySet
from django.db.models.functions import Coalesce

from bihuan.leads.models import JointOperation, JointParticipant
from bihuan.leads.workflow import JointStatus
from bihuan.screening.models import Inspection, InspectionParticipant
from bihuan.screening.workflow import InspectionStatus, VisitOutcome
from bihuan.territory.models import Region

LOCAL = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Screened:
    """Institutions screened (家) and approved on-site visits (家次)."""

    institutions: int
    visits: int


@dataclass(frozen=True)
class PersonTimeRecords:
    """The rows behind the person-times: one row is one person-time."""

    inspections: QuerySet[InspectionParticipant]
    joint: QuerySet[JointParticipant]

    def count(self) -> int:
        return self.inspections.count() + self.joint.count()


def _bounds(
    start: datetime.date, end: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """The first instant of ``start`` and of the day after ``end``, in Asia/Shanghai."""
    low = datetime.datetime.combine(start, datetime.time.min, tzinfo=LOCAL)
    high = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, LOCAL)
    return low, high


def approved_inspections(
    start: datetime.date, end: datetime.date, region: Region | None
) -> QuerySet[Inspection]:
    """Approved inspections visited in the period, at or under ``region``."""
    low, high = _bounds(start, end)
    rows = Inspection.objects.filter(
        status=InspectionStatus.APPROVED, visited_at__gte=low, visited_at__lt=high
    )
    return rows.filter(region.subtree_q("region")) if region is not None else rows


def joint_operations_held(
    start: datetime.date, end: datetime.date, region: Region | None
) -> QuerySet[JointOperation]:
    """Joint operations carried out (recorded) with their date in the period."""
    rows = JointOperation.objects.filter(
        status=JointStatus.RECORDED, planned_for__gte=start, planned_for__lte=end
    )
    return rows.filter(region.subtree_q("region")) if region is not None else rows


def person_time_records(
    start: datetime.date, end: datetime.date, region: Region | None
) -> PersonTimeRecords:
    """The participations behind the person-times: inspection participants and joint ones."""
    inspections = InspectionParticipant.objects.filter(
        is_active=True,
        inspection__in=approved_inspections(start, end, region).values("pk"),
    )
    took_part = JointParticipant.objects.filter(
        took_part=True, operation__in=joint_operations_held(start, end, region).values("pk")
    )
    # One row per person per operation: a user is unique there already; a named person without
    # an account may have been entered twice without a department, so keep the first entry.
    firsts = (
        took_part.order_by()
        .values("operation_id", "user_id", "name", "department_id")
        .annotate(first=Min("pk"))
        .values("first")
    )
    return PersonTimeRecords(
        inspections=inspections.order_by("inspection_id", "pk"),
        joint=JointParticipant.objects.filter(pk__in=firsts).order_by("operation_id", "pk"),
    )


def person_times(start: datetime.date, end: datetime.date, region: Region | None) -> int:
    """Inspector person-times (出动检查人员人次) in the period and place."""
    return person_time_records(start, end, region).count()


def screened_records(
    start: datetime.date, end: datetime.date, region: Region | None
) -> QuerySet[Inspection]:
    """The visits behind the figure, each with ``counted_institution``: the survivor's id."""
    return (
        approved_inspections(start, end, region)
        .filter(outcome=VisitOutcome.VISITED)
        .annotate(counted_institution=Coalesce("institution__merged_into_id", "institution_id"))
        .order_by("visited_at", "pk")
    )


def institutions_screened(
    start: datetime.date, end: datetime.date, region: Region | None
) -> Screened:
    """Institutions screened (家) and visits (家次) in the period and place, in one query."""
    totals = (
        screened_records(start, end, region)
        .order_by()
        .aggregate(
            institutions=Count("counted_institution", distinct=True),
            visits=Count("pk"),
        )
    )
    return Screened(institutions=totals["institutions"] or 0, visits=totals["visits"] or 0)
