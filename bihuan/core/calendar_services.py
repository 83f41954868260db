"""Writes to the working-day calendar: set or withdraw the exception of one date."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.models import CalendarDay
from bihuan.core.workdays import FIRST_DAY, LAST_DAY, calendar_forget

FIELDS = ["date", "is_workday", "name", "is_active", "is_official"]
NAME_MAX = CalendarDay._meta.get_field("name").max_length or 50


def _require_manage(actor: Any) -> None:
    # None is the system itself (migrations, commands), as elsewhere.
    if actor is not None and not can(actor, Capability.CALENDAR_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _changed() -> None:
    # At once, so the rest of this transaction counts with the change; again at commit, so a
    # copy another thread of this process read meanwhile (without the change) is dropped too.
    calendar_forget()
    transaction.on_commit(calendar_forget)


def _active(day: date) -> CalendarDay | None:
    return CalendarDay.objects.select_for_update().filter(date=day, is_active=True).first()


@transaction.atomic
def calendar_day_set(
    *, actor: Any, day: date, is_workday: bool, name: str, is_official: bool = False
) -> CalendarDay:
    """Make a date a holiday or a weekend make-up working day; the entry it replaces is kept."""
    _require_manage(actor)
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Give the day a name, such as 春节."), field="name")
    if len(name) > NAME_MAX:
        raise ServiceError(
            _("A name has at most %(n)d characters.") % {"n": NAME_MAX}, field="name"
        )
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ServiceError(
            _("The calendar covers %(first)d to %(last)d only.")
            % {"first": FIRST_DAY.year, "last": LAST_DAY.year},
            field="day",
        )
    if is_workday and day.weekday() < 5:
        raise ServiceError(
            _(
                "%(day)s is a weekday, already a working day: a make-up working day falls on a "
                "Saturday or Sunday."
            )
            % {"day": date_format(day)},
            field="day",
        )
    previous = _active(day)
    if previous is not None and previous.is_workday == is_workday:
        if is_workday:
            message = _("%(day)s is already a make-up working day (%(name)s).")
        else:
            message = _("%(day)s is already a holiday (%(name)s).")
        message += " " + _("To rename it, withdraw it first.")
        raise ServiceError(message % {"day": date_format(day), "name": previous.name}, field="day")
    before = None
    if previous is not None:
        before = snapshot(previous, FIELDS)
        previous.is_active = False
        previous.updated_by = _user(actor)
        previous.save(update_fields=["is_active", "updated_by", "updated_at"])
    entry = CalendarDay(
        date=day,
        is_workday=is_workday,
        name=name,
        is_official=is_official,
        created_by=_user(actor),
        updated_by=_user(actor),
    )
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        # Another administrator set the same date between our read and our write.
        raise ServiceError(
            _("This date was changed meanwhile; reload the page and try again."), field="day"
        ) from None
    event_record(
        actor=actor,
        verb="calendar_day.set",
        obj=entry,
        before=before,
        after=snapshot(entry, FIELDS),
    )
    _changed()
    return entry


@transaction.atomic
def calendar_day_withdraw(*, actor: Any, day: date) -> CalendarDay:
    """Withdraw the active entry of a date, so the weekday rule applies to it again."""
    _require_manage(actor)
    entry = _active(day)
    if entry is None:
        raise ServiceError(
            _("%(day)s has no entry to withdraw.") % {"day": date_format(day)}, field="day"
        )
    before = snapshot(entry, FIELDS)
    entry.is_active = False
    entry.updated_by = _user(actor)
    entry.save(update_fields=["is_active", "updated_by", "updated_at"])
    event_record(
        actor=actor,
        verb="calendar_day.withdrawn",
        obj=entry,
        before=before,
        after=snapshot(entry, FIELDS),
    )
    _changed()
    return entry
