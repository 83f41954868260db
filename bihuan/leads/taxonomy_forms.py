"""Forms of the taxonomy pages; validation of meaning stays in taxonomy_services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bihuan.leads.models import DEPARTMENT_CHOICES, Severity, ViolationGroup, ViolationType
from bihuan.registry.models import Category
from bihuan.territory.models import Region

ANY_CATEGORY = [("", _("any licence category"))]


class TypeFilterForm(forms.Form):
    q = forms.CharField(label=_("Code or name"), required=False)
    group = forms.ModelChoiceField(
        label=_("Group"),
        queryset=ViolationGroup.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("All groups"),
    )
    active = forms.ChoiceField(
        label=_("Active"),
        required=False,
        choices=[("", _("all")), ("yes", _("active")), ("no", _("inactive"))],
    )


class GroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    sign_days = forms.IntegerField(label=_("Working days to sign"), min_value=1, max_value=60)
    reply_days = forms.IntegerField(label=_("Working days to reply"), min_value=1, max_value=60)


class ViolationTypeForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    group = forms.ModelChoiceField(label=_("Group"), queryset=ViolationGroup.objects.all())
    legal_basis = forms.CharField(
        label=_("Legal basis"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    lead_kind = forms.ChoiceField(label=_("Default lead department"), choices=DEPARTMENT_CHOICES)
    assisting_kinds = forms.MultipleChoiceField(
        label=_("Default assisting departments"),
        choices=DEPARTMENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    severity = forms.TypedChoiceField(
        label=_("Severity"), choices=Severity.choices, coerce=int, initial=Severity.MEDIUM
    )
    is_disguised = forms.BooleanField(
        label=_("Disguised subject tutoring (隐形变异)"), required=False
    )

    @classmethod
    def for_type(cls, violation_type: ViolationType, **kwargs: Any) -> ViolationTypeForm:
        """The edit form, filled with the type's current values."""
        initial = {
            "name": violation_type.name,
            "group": violation_type.group_id,
            "legal_basis": violation_type.legal_basis,
            "lead_kind": violation_type.lead_kind,
            "assisting_kinds": list(violation_type.assisting_kinds or []),
            "severity": violation_type.severity,
            "is_disguised": violation_type.is_disguised,
        }
        return cls(initial=initial, **kwargs)


class ViolationTypeCreateForm(ViolationTypeForm):
    code = forms.CharField(
        label=_("Code"), max_length=3, help_text=_("One capital letter and one or two digits.")
    )
    field_order = ["code"]


class RegionCodeField(forms.CharField):
    """A division code, resolved to a region of the given queryset (blank: everywhere)."""

    def __init__(self, *, regions: QuerySet[Region] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.regions = regions if regions is not None else Region.objects.all()

    def clean(self, value: Any) -> Region | None:  # type: ignore[override]
        code = super().clean(value).strip()
        if not code:
            return None
        region = self.regions.filter(code=code).first()
        if region is None:
            raise forms.ValidationError(
                _("No region has the division code %(code)s.") % {"code": code}
            )
        return region


class RoutingRuleForm(forms.Form):
    violation_type = forms.ModelChoiceField(
        label=_("Violation type"),
        queryset=ViolationType.objects.filter(is_active=True),
        to_field_name="code",
    )
    category = forms.ChoiceField(
        label=_("Licence category"), choices=ANY_CATEGORY + list(Category.choices), required=False
    )
    region = RegionCodeField(
        label=_("Region (division code)"),
        required=False,
        help_text=_("Blank: everywhere. Otherwise the rule applies inside this region."),
    )
    lead_kind = forms.ChoiceField(label=_("Lead department"), choices=DEPARTMENT_CHOICES)
    assisting_kinds = forms.MultipleChoiceField(
        label=_("Assisting departments"),
        choices=DEPARTMENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class RuleFilterForm(forms.Form):
    type = forms.ModelChoiceField(
        label=_("Violation type"),
        queryset=ViolationType.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("All types"),
    )
    inactive = forms.BooleanField(label=_("Include inactive rules"), required=False)


class TryRoutingForm(forms.Form):
    types = forms.ModelMultipleChoiceField(
        label=_("Violation types"),
        queryset=ViolationType.objects.filter(is_active=True).select_related("group"),
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
    )
    category = forms.ChoiceField(label=_("Licence category"), choices=Category.choices)
    region = RegionCodeField(label=_("Region (division code)"))
