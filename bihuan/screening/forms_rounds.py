"""Forms of the rounds pages: the list's filters, opening a round, and the draft's adjustments.

Forms only parse; which places, checklists and people may be named comes from the selectors the
view hands them, and the services decide the rest.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bihuan.screening.models import ChecklistVersion
from bihuan.screening.workflow import RoundStatus

STATUS_CHOICES = [("", _("any status")), *RoundStatus.choices]


class RoundFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    place = forms.RegexField(label=_("Region code"), regex=r"^\d{1,12}$", required=False)
    q = forms.CharField(label=_("Search"), max_length=100, required=False)

    def values(self) -> dict[str, str]:
        """The filters that were given and valid (an invalid one is ignored, not an error)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {k: str(v).strip() for k, v in data.items() if v and k not in self.errors}


class ChecklistChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.template.name} v{obj.number}"


class DateInput(forms.DateInput):
    input_type = "date"


class RoundForm(forms.Form):
    """A new round: ``places`` are (code, label) pairs of the places the user manages."""

    region = forms.ChoiceField(label=_("Place"))
    name = forms.CharField(label=_("Name"), max_length=100)
    starts_on = forms.DateField(label=_("Starts"), widget=DateInput)
    ends_on = forms.DateField(label=_("Ends"), widget=DateInput)
    checklist = ChecklistChoiceField(label=_("Checklist"), queryset=ChecklistVersion.objects.none())

    def __init__(
        self,
        *args: Any,
        places: list[tuple[str, str]],
        checklists: QuerySet[ChecklistVersion],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = places  # type: ignore[attr-defined]
        field = self.fields["checklist"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = checklists


class PersonForm(forms.Form):
    """One person chosen from ``people`` ((pk, label) pairs)."""

    inspector = forms.TypedChoiceField(label=_("Inspector"), coerce=int)

    def __init__(self, *args: Any, people: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["inspector"].choices = people  # type: ignore[attr-defined]


class AddForm(PersonForm):
    """An unstaffed institution of the round, given to someone by hand."""

    institution = forms.IntegerField(widget=forms.HiddenInput)


class SweepForm(PersonForm):
    """A sweep: walk a place and report unregistered institutions."""

    region = forms.ChoiceField(label=_("Place"))
    instructions = forms.CharField(
        label=_("Instructions"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(
        self,
        *args: Any,
        people: list[tuple[int, str]],
        places: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, people=people, **kwargs)
        self.fields["region"].choices = places  # type: ignore[attr-defined]
