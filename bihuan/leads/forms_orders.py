"""Forms of the departments' pages: they parse input; the work-order services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bihuan.accounts.models import Department
from bihuan.leads.evidence import MAX_FILES
from bihuan.leads.models import WorkOrder
from bihuan.leads.selectors import departments_covering
from bihuan.leads.workflow import OrderRole

# The inbox's tabs, in the order they are shown.
TABS: list[tuple[str, Any]] = [
    ("awaiting", _("Awaiting signature")),
    ("signed", _("In hand")),
    ("replied", _("Replied")),
    ("overdue", _("Overdue")),
    ("returned", _("Return requested")),
    ("all", _("All")),
]
DEFAULT_TAB = "awaiting"
SORTS: list[tuple[str, Any]] = [
    ("due", _("Earliest deadline first")),
    ("-due", _("Latest deadline first")),
    ("-created", _("Newest first")),
]
FLAGS: list[tuple[str, Any]] = [
    ("", "—"),
    ("urged", _("urged")),
    ("supervised", _("under supervision")),
]


class InboxFilterForm(forms.Form):
    """The inbox's filters; an unusable value is ignored, never an error page."""

    tab = forms.ChoiceField(choices=TABS, required=False)
    q = forms.CharField(label=_("Reference or place"), required=False, max_length=100)
    role = forms.ChoiceField(
        label=_("Role"), choices=[("", "—"), *OrderRole.choices], required=False
    )
    type = forms.CharField(label=_("Violation type code"), required=False, max_length=8)
    flag = forms.ChoiceField(label=_("Reminders"), choices=FLAGS, required=False)
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORTS, required=False)

    def values(self) -> dict[str, Any]:
        """The usable filters, each dropped alone when its value is not valid."""
        self.is_valid()
        result: dict[str, Any] = {}
        for name in self.fields:
            value = self.cleaned_data.get(name)
            if name in self.errors or value in (None, ""):
                continue
            result[name] = value.strip() if isinstance(value, str) else value
        result.setdefault("tab", DEFAULT_TAB)
        result.setdefault("sort", "due")
        return {k: v for k, v in result.items() if v != ""}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several evidence files in one input; the evidence module checks their content."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if len(files) > MAX_FILES:
            raise forms.ValidationError(_("Attach at most %(n)d files.") % {"n": MAX_FILES})
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class SignForm(forms.Form):
    """Signing for an order takes no input."""


class ReplyForm(forms.Form):
    reply = forms.CharField(
        label=_("What the department did"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    # Named as the services name it (ServiceError.field "files"); the form metaclass removes
    # declared fields from the class, so BaseForm.files is not shadowed at runtime.
    files = MultipleFileField(  # type: ignore[assignment]
        label=_("Evidence (photos or PDF)"),
        required=False,
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,.pdf"}),
    )


class DepartmentChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Department) -> str:
        return obj.name


class ReturnForm(forms.Form):
    proposed_department = DepartmentChoiceField(
        label=_("Department you believe is responsible"),
        queryset=Department.objects.none(),
        error_messages={"required": _("Name the department you believe is responsible.")},
    )
    reason = forms.CharField(
        label=_("Why this order is not your department's"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, order: WorkOrder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["proposed_department"]
        field.queryset = return_candidates(order)  # type: ignore[attr-defined]


def return_candidates(order: WorkOrder) -> QuerySet[Department]:
    """The departments covering the lead's place, other than the order's own."""
    return (
        departments_covering(order.lead.region)
        .exclude(pk=order.department_id)
        .order_by("-jurisdiction__depth", "name")
    )


class ExtensionForm(forms.Form):
    days = forms.IntegerField(label=_("Working days asked"), min_value=1, max_value=30)
    reason = forms.CharField(
        label=_("Why more time is needed"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
