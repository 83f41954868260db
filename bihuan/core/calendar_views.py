"""The working-day calendar page: one year's exceptions, working days per month, and edits."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts.policies import Capability, can
from bihuan.core import calendar_services
from bihuan.core.calendar_selectors import calendar_days_visible_to
from bihuan.core.errors import ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.core.models import CalendarDay
from bihuan.core.workdays import CHINA, FIRST_DAY, LAST_DAY, known_years, working_days_in

HOLIDAY, MAKE_UP = "holiday", "workday"


class CalendarDayForm(forms.Form):
    day = forms.DateField(
        label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=[
            (HOLIDAY, gettext_lazy("Holiday (rest day)")),
            (MAKE_UP, gettext_lazy("Make-up working day on a weekend")),
        ],
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=50)
    is_official = forms.BooleanField(
        label=gettext_lazy("From the State Council's notice"), required=False, initial=True
    )


def _require(request: HttpRequest) -> None:
    if not can(request.user, Capability.CALENDAR_MANAGE):
        raise Http404


def _year(request: HttpRequest) -> int:
    raw = request.GET.get("year", "")
    if not raw:
        return timezone.now().astimezone(CHINA).year
    try:
        year = int(raw)
    except ValueError:
        raise Http404 from None
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise Http404
    return year


def _year_url(year: int) -> str:
    return f"{reverse('calendar:year')}?year={year}"


def _kind_label(entry: CalendarDay) -> str:
    return _("Make-up working day") if entry.is_workday else _("Holiday")


def _export(year: int, entries: list[CalendarDay]) -> HttpResponse:
    return xlsx_response(
        f"calendar-{year}.xlsx",
        [_("Date"), _("Weekday"), _("Kind"), _("Name"), _("Official"), _("Entered by")],
        (
            (
                e.date,
                date_format(e.date, "l"),
                _kind_label(e),
                e.name,
                e.is_official,
                e.created_by.get_username() if e.created_by else "",
            )
            for e in entries
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def calendar_year(request: HttpRequest) -> HttpResponse:
    """A year's holidays and make-up working days, working days per month, and the edit form."""
    _require(request)
    form = CalendarDayForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = calendar_services.calendar_day_set(
                actor=request.user,
                day=data["day"],
                is_workday=data["kind"] == MAKE_UP,
                name=data["name"],
                is_official=data["is_official"],
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                _("%(day)s is now: %(kind)s, %(name)s.")
                % {"day": date_format(entry.date), "kind": _kind_label(entry), "name": entry.name},
            )
            return redirect(_year_url(entry.date.year))
    posted = form.cleaned_data.get("day") if form.is_bound else None
    # A refused form is shown again on the year it was about, when the calendar covers it.
    year = posted.year if posted and FIRST_DAY <= posted <= LAST_DAY else _year(request)
    entries = list(
        calendar_days_visible_to(request.user)
        .filter(is_active=True, date__year=year)
        .order_by("date")
    )
    if request.GET.get("format") == "xlsx":
        return _export(year, entries)
    months = []
    for month in range(1, 13):
        first = date(year, month, 1)
        last = date(year + month // 12, month % 12 + 1, 1).toordinal() - 1
        in_month = [e for e in entries if e.date.month == month]
        months.append(
            {
                "first": first,
                "working_days": working_days_in(first, date.fromordinal(last)),
                "holidays": sum(1 for e in in_month if not e.is_workday),
                "make_up_days": sum(1 for e in in_month if e.is_workday),
            }
        )
    known = known_years()
    return render(
        request,
        "core/calendar.html",
        {
            "year": year,
            "entries": entries,
            "months": months,
            "total": sum(m["working_days"] for m in months),
            "missing_this_year": year not in known,
            "missing_next_year": year + 1 not in known and year < LAST_DAY.year,
            "next_year": year + 1,
            "previous_year": year - 1 if year > FIRST_DAY.year else None,
            "following_year": year + 1 if year < LAST_DAY.year else None,
            "form": form,
        },
    )


@login_required
@require_POST
def calendar_day_withdraw(request: HttpRequest, day: str) -> HttpResponse:
    """Withdraw a date's entry (the row is kept, inactive)."""
    _require(request)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise Http404 from None
    try:
        calendar_services.calendar_day_withdraw(actor=request.user, day=when)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("The entry for %(day)s was withdrawn.") % {"day": date_format(when)}
        )
    return redirect(_year_url(when.year))
