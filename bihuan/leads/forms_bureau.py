"""Forms of the bureau's pages: the queue's filters, reporting a lead, triage and joint operations.

Forms only parse what was posted; scope (which lead, institution, department or person may be
named) comes from the selectors the view hands them, and the services decide the rest.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bihuan.accounts.models import Department, User
from bihuan.leads.models import JointParticipant, ViolationType
from bihuan.leads.workflow import ClosureReason, LeadSource

TABS = [
    ("new", _("new")),
    ("accepted", _("accepted")),
    ("dispatched", _("dispatched")),
    ("replied", _("replied")),
    ("verified", _("verified")),
    ("overdue", _("overdue")),
    ("closed", _("closed")),
    ("all", _("all")),
]
SORTS = [
    ("-created", _("newest first")),
    ("created", _("oldest first")),
    ("due", _("deadline, soonest first")),
    ("-due", _("deadline, latest first")),
]


class QueueFilterForm(forms.Form):
    tab = forms.ChoiceField(label=_("Status"), choices=TABS, required=False)
    source = forms.ChoiceField(
        label=_("Source"), choices=[("", _("any source")), *LeadSource.choices], required=False
    )
    type = forms.CharField(label=_("Violation type"), max_length=8, required=False)
    region = forms.RegexField(label=_("Region code"), regex=r"^\d{1,12}$", required=False)
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    sort = forms.ChoiceField(label=_("Sort"), choices=SORTS, required=False)

    def values(self) -> dict[str, str]:
        """The filters that were given and valid (an invalid one is ignored, not an error)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {k: str(v).strip() for k, v in data.items() if v and k not in self.errors}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class ReportForm(forms.Form):
    """A lead as reported; ``sources`` and ``types`` depend on the reporter's roles."""

    source = forms.ChoiceField(label=_("Source"), choices=[])
    sentinel = forms.TypedChoiceField(label=_("Sentinel"), coerce=int, choices=[], required=False)
    description = forms.CharField(label=_("What was seen or heard"), widget=forms.Textarea)
    institution = forms.IntegerField(widget=forms.HiddenInput, required=False)
    place_name = forms.CharField(label=_("Place name"), max_length=200, required=False)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    latitude = forms.DecimalField(
        label=_("Latitude (WGS-84)"), max_digits=9, decimal_places=6, required=False
    )
    longitude = forms.DecimalField(
        label=_("Longitude (WGS-84)"), max_digits=9, decimal_places=6, required=False
    )
    region = forms.CharField(label=_("Community"), required=False)
    reporter_name = forms.CharField(label=_("Reporter's name"), max_length=50, required=False)
    reporter_phone = forms.CharField(label=_("Reporter's phone"), max_length=20, required=False)
    is_anonymous = forms.BooleanField(label=_("Anonymous"), required=False)
    violation_types = forms.ModelMultipleChoiceField(
        label=_("Violation types"),
        queryset=ViolationType.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    evidence = forms.FileField(
        label=_("Evidence (photos or PDF)"),
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,.pdf"}),
        required=False,
    )
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        sources: list[tuple[str, Any]],
        sentinels: list[tuple[int, str]],
        communities: list[tuple[str, str]],
        types: QuerySet[ViolationType] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = sources  # type: ignore[attr-defined]
        if len(sources) == 1:
            # Nothing to choose: whatever was posted, the one allowed source is used.
            self.fields["source"].widget = forms.HiddenInput()
            self.fields["source"].initial = sources[0][0]
            self.fields["source"].disabled = True
        if sentinels:
            self.fields["sentinel"].choices = sentinels  # type: ignore[attr-defined]
            self.fields["sentinel"].required = True
            self.fields["sentinel"].initial = sentinels[0][0]
        else:
            del self.fields["sentinel"]
        self.fields["region"].widget = forms.Select(
            choices=[("", _("— the institution's or sentinel's place —")), *communities]
        )
        if types is None:
            del self.fields["violation_types"]
        else:
            self.fields["violation_types"].queryset = types  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            self.add_error("latitude", _("Give both coordinates, or neither."))
        return data


class TypesForm(forms.Form):
    """Accept (受理) or re-classify: the violation types, and for accepting an optional link."""

    violation_types = forms.ModelMultipleChoiceField(
        label=_("Violation types"),
        queryset=ViolationType.objects.filter(is_active=True),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one violation type.")},
    )
    institution = forms.IntegerField(label=_("Institution"), required=False)


class LinkForm(forms.Form):
    institution = forms.IntegerField(label=_("Institution"))


class MergeForm(forms.Form):
    reference = forms.CharField(label=_("Reference of the lead it duplicates"), max_length=20)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class RequiredNoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500)


class CloseForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why it is closed"), choices=ClosureReason.choices)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class EvidenceForm(forms.Form):
    evidence = forms.FileField(
        label=_("Evidence (photos or PDF)"),
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,.pdf"}),
        required=False,
    )


class ReassignForm(forms.Form):
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none())
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args: Any, departments: QuerySet[Department], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments  # type: ignore[attr-defined]


class ExtensionDecisionForm(forms.Form):
    approve = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("1", _("approve")), ("0", _("refuse"))],
        coerce=lambda v: v == "1",
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


def parse_names(
    text: str, departments: QuerySet[Department]
) -> tuple[list[tuple[str, Department | None]], list[str]]:
    """Lines of "name, department short name" → (name, department); unknown departments refused."""
    by_short = {d.short_name: d for d in departments}
    named: list[tuple[str, Department | None]] = []
    unknown: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        name, _sep, short = (part.strip() for part in line.replace("，", ",").partition(","))
        if short and short not in by_short:
            unknown.append(short)
        named.append((name, by_short.get(short) if short else None))
    return named, unknown


class JointConfirmForm(forms.Form):
    planned_for = forms.DateField(
        label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    departments = forms.ModelMultipleChoiceField(
        label=_("Departments"),
        queryset=Department.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    team = forms.ModelMultipleChoiceField(
        label=_("Team"), queryset=User.objects.none(), required=False
    )
    named = forms.CharField(
        label=_("Others, one per line: name, department short name"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        departments: QuerySet[Department],
        people: QuerySet[User],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.department_choices = departments
        self.fields["departments"].queryset = departments  # type: ignore[attr-defined]
        self.fields["team"].queryset = people  # type: ignore[attr-defined]

    def clean_named(self) -> list[tuple[str, Department | None]]:
        named, unknown = parse_names(self.cleaned_data.get("named", ""), self.department_choices)
        if unknown:
            raise forms.ValidationError(
                _("No department here has the short name %(names)s.")
                % {"names": "、".join(unknown)}
            )
        return named


class JointRecordForm(forms.Form):
    outcome = forms.CharField(label=_("Outcome"), widget=forms.Textarea, max_length=4000)
    absent = forms.ModelMultipleChoiceField(
        label=_("Did not come"),
        queryset=JointParticipant.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    extra = forms.CharField(
        label=_("Also there, one per line: name, department short name"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        participants: QuerySet[JointParticipant],
        departments: QuerySet[Department],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.department_choices = departments
        self.fields["absent"].queryset = participants  # type: ignore[attr-defined]

    def clean_extra(self) -> list[tuple[str, Department | None]]:
        named, unknown = parse_names(self.cleaned_data.get("extra", ""), self.department_choices)
        if unknown:
            raise forms.ValidationError(
                _("No department here has the short name %(names)s.")
                % {"names": "、".join(unknown)}
            )
        return named
