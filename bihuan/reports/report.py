"""The monthly, quarterly and yearly report of one slice: what the page and the XLSX both show.

A report opens with the article's sentence, then the five figures beside the previous period
(see ``periods.Period.previous``) with the change, then breakdowns of the same records:

* leads fed back by source, and by violation group (a lead classified under types of two groups
  counts in each, so that column may add up to more than the figure; an unclassified lead counts
  once, as "not classified yet");
* the disguised-tutoring cases of the figure by outcome (a case may have several outcomes, so the
  column may add up to more than the figure; a case with none is "no outcome recorded");
* the five figures for each region one level below a region slice.

Every breakdown reads the selections of ``figures`` (``leads_in``, ``cases_in``), so it speaks of
exactly the records the headline counts.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bihuan.leads.models import ViolationGroup
from bihuan.leads.workflow import LeadSource
from bihuan.reports import figures
from bihuan.reports.figures import METRICS, Headline
from bihuan.reports.periods import Period
from bihuan.reports.scope import FigureScope
from bihuan.reports.sentence import article_sentence, yuan
from bihuan.territory.models import Region

METRIC_LABELS = {
    "person_times": gettext_lazy("Inspector person-times"),
    "institutions": gettext_lazy("Institutions screened"),
    "visits": gettext_lazy("Visits"),
    "leads": gettext_lazy("Leads fed back"),
    "disguised_cases": gettext_lazy("Disguised tutoring cases dealt with"),
    "refunds": gettext_lazy("Fees refunded"),
}
KIND_LABELS = {
    "inspection": gettext_lazy("visit"),
    "joint_operation": gettext_lazy("joint operation"),
    "institution": gettext_lazy("institution"),
    "lead": gettext_lazy("lead"),
    "case": gettext_lazy("case"),
    "refund": gettext_lazy("refund"),
}
# Child regions in a report are bounded: a province has ~100 districts, a city has tens.
MAX_CHILD_REGIONS = 200


def shown(metric: str, value: int | None) -> str:
    """A figure as pages print it: a count, or 元 with fen for money; "—" where it has none."""
    if value is None:
        return "—"
    return yuan(value) if metric == "refunds" else str(value)


@dataclass(frozen=True)
class Line:
    """One figure of the report: this period, the previous one, and the change."""

    metric: str
    current: int | None
    previous: int | None

    @property
    def label(self) -> str:
        return str(METRIC_LABELS[self.metric])

    @property
    def change(self) -> int | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def percent(self) -> float | None:
        """Change in per cent of the previous period; None when there was nothing before."""
        if self.change is None or not self.previous:
            return None
        return round(self.change * 100 / self.previous, 1)

    @property
    def current_shown(self) -> str:
        return shown(self.metric, self.current)

    @property
    def previous_shown(self) -> str:
        return shown(self.metric, self.previous)

    @property
    def change_shown(self) -> str:
        if self.change is None:
            return "—"
        return ("+" if self.change > 0 else "") + shown(self.metric, self.change)

    @property
    def percent_shown(self) -> str:
        if self.percent is None:
            return "—"
        return f"{'+' if self.percent > 0 else ''}{self.percent:.1f}%"


@dataclass(frozen=True)
class Tally:
    """One row of a breakdown: a label and how many records."""

    label: str
    count: int


@dataclass(frozen=True)
class ChildRow:
    """The figures of one region below the slice."""

    scope: FigureScope
    code: str
    figures: Headline

    @property
    def cells(self) -> list[str]:
        return [shown(m, self.figures.value(m)) for m in METRICS]


@dataclass(frozen=True)
class Report:
    """Everything one report shows, in order."""

    scope: FigureScope
    period: Period
    previous: Period
    sentence: str
    lines: list[Line]
    by_source: list[Tally]
    by_group: list[Tally]
    by_outcome: list[Tally]
    children: list[ChildRow]


def lines_of(now: Headline, before: Headline) -> list[Line]:
    """The figures of two periods side by side, in the order of ``METRICS``."""
    return [Line(m, now.value(m), before.value(m)) for m in METRICS]


def leads_by_source(scope: FigureScope, period: Period) -> list[Tally]:
    """Leads fed back per source, every source listed (zero included), in the taxonomy's order."""
    counts = dict(
        figures.leads_in(scope, period.start, period.end)
        .order_by()
        .values_list("source")
        .annotate(n=Count("pk"))
    )
    return [Tally(str(label), counts.get(value, 0)) for value, label in LeadSource.choices]


def leads_by_group(scope: FigureScope, period: Period) -> list[Tally]:
    """Leads fed back per violation group, then those not classified yet."""
    leads = figures.leads_in(scope, period.start, period.end)
    groups = ViolationGroup.objects.annotate(
        n=Count(
            "types__leads",
            filter=Q(types__leads__in=leads.values("pk")),
            distinct=True,
        )
    ).order_by("code")
    rows = [Tally(f"{g.code} {g.name}", g.n) for g in groups]
    unclassified = leads.filter(violation_types__isnull=True).count()
    return [*rows, Tally(_("not classified yet"), unclassified)]


def cases_by_outcome(scope: FigureScope, period: Period) -> list[Tally]:
    """The figure's cases per outcome decided (a case may have several), in one query."""
    got = (
        figures.cases_in(scope, period.start, period.end)
        .order_by()
        .aggregate(
            n_rectification=Count("pk", filter=~Q(rectification_order="")),
            n_penalty=Count("pk", filter=Q(penalty_fen__isnull=False)),
            n_closure=Count("pk", filter=Q(closure_ordered=True)),
            n_blacklisted=Count("pk", filter=Q(blacklisted=True)),
            n_none=Count(
                "pk",
                filter=Q(rectification_order="", penalty_fen__isnull=True)
                & Q(closure_ordered=False, blacklisted=False),
            ),
        )
    )
    return [
        Tally(_("rectification"), got["n_rectification"]),
        Tally(_("penalty"), got["n_penalty"]),
        Tally(_("closure"), got["n_closure"]),
        Tally(_("blacklisted"), got["n_blacklisted"]),
        Tally(_("no outcome recorded"), got["n_none"]),
    ]


def child_regions(scope: FigureScope) -> list[Region]:
    """The active regions one level below a region slice (none for areas and departments)."""
    if scope.kind != "region":
        return []
    return list(
        Region.objects.filter(parent_id=scope.id, is_active=True).order_by("code")[
            :MAX_CHILD_REGIONS
        ]
    )


def child_scope(region: Region) -> FigureScope:
    """The slice of one region below the user's (inside their scope by the tree)."""
    return FigureScope("region", region.pk, region.name, region.path)


def build_report(scope: FigureScope, period: Period, today: datetime.date) -> Report:
    """The report of a slice for a period, compared with the period before."""
    previous = period.previous()
    now = figures.headline(scope, period.start, period.end)
    before = figures.headline(scope, previous.start, previous.end)
    children = [
        ChildRow(child_scope(r), r.code, figures.headline(child_scope(r), period.start, period.end))
        for r in child_regions(scope)
    ]
    return Report(
        scope=scope,
        period=period,
        previous=previous,
        sentence=article_sentence(now, period, today),
        lines=lines_of(now, before),
        by_source=leads_by_source(scope, period),
        by_group=leads_by_group(scope, period),
        by_outcome=cases_by_outcome(scope, period),
        children=children,
    )


# --- XLSX ---------------------------------------------------------------------------------------

RECORD_HEADER = [
    gettext_lazy("Date"),
    gettext_lazy("Kind"),
    gettext_lazy("Record"),
    gettext_lazy("Place"),
    gettext_lazy("Detail"),
    gettext_lazy("Counts for"),
]
# Sheet names are at most 31 characters in Excel and may not hold []:*?/\.
_SHEET_NAME_MAX = 31


def _sheet_title(text: str) -> str:
    for bad in "[]:*?/\\":
        text = text.replace(bad, " ")
    return text[:_SHEET_NAME_MAX]


def kind_label(kind: str) -> str:
    """What a record row is, in the user's language."""
    return str(KIND_LABELS.get(kind, kind))


def record_cells(metric: str, row: figures.RecordRow) -> list[Any]:
    """One record as a row of cells; money in 元 as a number so Excel can add it up."""
    weight: Any = row.weight / 100 if metric == "refunds" else row.weight
    return [row.date, kind_label(row.kind), row.label, row.place, row.detail, weight]


def _sheets(report: Report) -> Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]:
    """Each sheet of the workbook: a title, a header, and rows."""
    summary: list[list[Any]] = [
        [report.sentence],
        [],
        [_("Slice"), report.scope.label],
        [_("Period"), report.period.label, report.period.start, report.period.end],
        [_("Compared with"), report.previous.label, report.previous.start, report.previous.end],
        [],
        [
            _("Figure"),
            _("This period"),
            _("Previous period"),
            _("Increase or decrease"),
            _("Change (%)"),
        ],
    ]
    for line in report.lines:
        money = line.metric == "refunds"
        summary.append(
            [
                f"{line.label} ({_('yuan')})" if money else line.label,
                None if line.current is None else (line.current / 100 if money else line.current),
                None
                if line.previous is None
                else (line.previous / 100 if money else line.previous),
                None if line.change is None else (line.change / 100 if money else line.change),
                line.percent,
            ]
        )
    yield _("Summary"), [_("Periodic report")], summary
    yield (
        _("Leads by source"),
        [_("Source"), _("Leads")],
        [[c.label, c.count] for c in report.by_source],
    )
    yield (
        _("Leads by violation group"),
        [_("Violation group"), _("Leads")],
        [[c.label, c.count] for c in report.by_group],
    )
    yield (
        _("Cases by outcome"),
        [_("Outcome"), _("Cases")],
        [[c.label, c.count] for c in report.by_outcome],
    )
    if report.children:
        header = [_("Region"), _("Division code")] + [
            f"{METRIC_LABELS[m]} ({_('yuan')})" if m == "refunds" else str(METRIC_LABELS[m])
            for m in METRICS
        ]
        rows = [
            [c.scope.label, c.code]
            + [
                (v / 100 if m == "refunds" and v is not None else v)
                for m in METRICS
                for v in [c.figures.value(m)]
            ]
            for c in report.children
        ]
        yield _("By region"), header, rows
    for metric in METRICS:
        if report.lines[METRICS.index(metric)].current is None:
            continue
        listed = figures.records(metric, report.scope, report.period.start, report.period.end)
        yield (
            str(METRIC_LABELS[metric]),
            [str(h) for h in RECORD_HEADER],
            (record_cells(metric, row) for row in listed.rows()),
        )


def report_workbook(report: Report) -> bytes:
    """The report as an XLSX workbook: the summary with the sentence, breakdowns, then records."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    from bihuan.core.exports import MAX_EXPORT_ROWS, xlsx_cell

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, header, rows in _sheets(report):
        sheet = workbook.create_sheet(_sheet_title(str(title)))
        cells = []
        for text in header:
            cell = WriteOnlyCell(sheet, value=str(text))
            cell.font = bold
            cells.append(cell)
        sheet.append(cells)
        for count, row in enumerate(rows, start=1):
            if count > MAX_EXPORT_ROWS:
                # Say so in the sheet: a silent cut would make the rows disagree with the figure.
                sheet.append(
                    [
                        _("Cut at %(rows)s rows: the records page lists them all.")
                        % {"rows": MAX_EXPORT_ROWS}
                    ]
                )
                break
            sheet.append([xlsx_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
