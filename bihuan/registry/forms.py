"""Forms of the registry pages: they parse input; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from bihuan.registry.models import Category, Datum, Institution, Status

BLANK: list[tuple[str, Any]] = [("", "—")]
SORTS = [
    ("name", _("Name")),
    ("-created", _("Newest first")),
    ("status", _("Status")),
]


class FilterForm(forms.Form):
    """The filters of the institution list; an unusable value is ignored, never an error page."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    region = forms.RegexField(label=_("Region code"), regex=r"^\d{6}(\d{6})?$", required=False)
    area = forms.IntegerField(label=_("Area"), required=False, min_value=1)
    category = forms.ChoiceField(label=_("Licence category"), choices=BLANK, required=False)
    status = forms.ChoiceField(label=_("Status"), choices=BLANK, required=False)
    blacklisted = forms.ChoiceField(
        label=_("Blacklist"),
        choices=[("", "—"), ("1", _("blacklisted")), ("0", _("not blacklisted"))],
        required=False,
    )
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORTS, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = BLANK + list(Category.choices)  # type: ignore[attr-defined]
        self.fields["status"].choices = BLANK + list(Status.choices)  # type: ignore[attr-defined]

    def values(self) -> dict[str, Any]:
        """The valid filters, each ignored alone when its value is not usable."""
        self.is_valid()
        return {
            name: self.cleaned_data[name]
            for name in self.fields
            if name not in self.errors and self.cleaned_data.get(name) not in (None, "")
        }


class _InstitutionFields(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    credit_code = forms.CharField(
        label=_("Unified social credit code"),
        max_length=18,
        required=False,
        help_text=_("18 characters; checked against its check character."),
    )
    licence_number = forms.CharField(
        label=_("School-running licence number"), max_length=64, required=False
    )
    category = forms.ChoiceField(label=_("Licence category"), choices=Category.choices)
    operator_name = forms.CharField(label=_("Operator"), max_length=100, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=20, required=False)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    has_custody_account = forms.BooleanField(
        label=_("Prepaid fees in a supervised account"), required=False
    )
    capacity = forms.IntegerField(label=_("Capacity"), min_value=0, required=False)


class InstitutionCreateForm(_InstitutionFields):
    field_order = [
        "name",
        "credit_code",
        "licence_number",
        "category",
        "region_code",
        "address",
        "latitude",
        "longitude",
        "datum",
    ]

    region_code = forms.RegexField(
        label=_("Region code"),
        regex=r"^(\d{6}|\d{12})$",
        help_text=_("The community (12 digits) if known, else the street or district."),
        error_messages={"invalid": _("A division code has 6 or 12 digits.")},
    )
    latitude = forms.DecimalField(
        label=_("Latitude"), max_digits=9, decimal_places=6, required=False
    )
    longitude = forms.DecimalField(
        label=_("Longitude"), max_digits=9, decimal_places=6, required=False
    )
    datum = forms.ChoiceField(
        label=_("Coordinates from"),
        choices=Datum.choices,
        initial=Datum.GCJ02,
        help_text=_("Positions read off a Chinese map service are GCJ-02; a phone gives WGS-84."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            self.add_error("longitude", _("Give both latitude and longitude, or neither."))
        return data


class InstitutionEditForm(_InstitutionFields):
    """The fields ``institution_update`` may change."""

    @classmethod
    def for_institution(cls, institution: Institution) -> InstitutionEditForm:
        return cls(initial={name: getattr(institution, name) for name in cls.base_fields})


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=Status.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)

    def __init__(self, *args: Any, allowed: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if allowed is not None:
            self.fields["status"].choices = [  # type: ignore[attr-defined]
                (value, label) for value, label in Status.choices if value in allowed
            ]


class BlacklistForm(forms.Form):
    blacklisted = forms.BooleanField(label=_("On the blacklist"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class CourseForm(forms.Form):
    name = forms.CharField(label=_("Course"), max_length=200)
    is_subject = forms.BooleanField(label=_("Subject course"), required=False)
    age_min = forms.IntegerField(label=_("Minimum age"), min_value=0, max_value=99, required=False)
    age_max = forms.IntegerField(label=_("Maximum age"), min_value=0, max_value=99, required=False)


class DecisionForm(forms.Form):
    same = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("1", _("The same institution")), ("0", _("Different institutions"))],
        coerce=lambda v: v == "1",
    )
