"""Forms of the case pages: they parse input (amounts in yuan into fen); the services decide."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from bihuan.cases.models import CaseStatus
from bihuan.cases.services import MAX_FEN

ANY: list[tuple[str, Any]] = [("", "—")]
SORTS = [
    ("-opened", _("Newest opened first")),
    ("opened", _("Oldest opened first")),
    ("-concluded", _("Newest concluded first")),
    ("concluded", _("Oldest concluded first")),
]


# Plain digits with an optional point and one or two decimals: no exponents, no signs.
_YUAN = re.compile(r"\d+(\.\d{1,2})?|\.\d{1,2}")
_DECIMALS = re.compile(r"\d*\.\d{3,}")


class YuanField(forms.CharField):
    """An amount typed in yuan with at most two decimals, cleaned to an integer number of fen."""

    default_error_messages = {
        "invalid": _("Enter an amount in yuan, such as 1250 or 1250.50."),
        "decimals": _("An amount has at most two decimals (fen)."),
        "negative": _("An amount cannot be negative."),
        "zero": _("An amount is at least ¥0.01."),
        "too_large": _("This amount is too large."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = str(value if value is not None else "").strip()
        # People type thousands separators and the currency sign; neither changes the amount.
        text = text.replace(",", "").replace("，", "").lstrip("¥￥").strip()
        if not text:
            return None
        if len(text) > (self.max_length or 20):
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        if text.startswith("-"):
            try:
                Decimal(text)
            except InvalidOperation:
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid"
                ) from None
            raise forms.ValidationError(self.error_messages["negative"], code="negative")
        if _DECIMALS.fullmatch(text):
            raise forms.ValidationError(self.error_messages["decimals"], code="decimals")
        if not _YUAN.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        fen = int(Decimal(text) * 100)
        if fen == 0:
            raise forms.ValidationError(self.error_messages["zero"], code="zero")
        if fen > MAX_FEN:
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        return fen

    def run_validators(self, value: Any) -> None:
        # CharField's length validators measure text; the typed text was measured in to_python.
        return None


class FilterForm(forms.Form):
    """The filters of the case list; an unusable value is ignored, never an error page."""

    status = forms.ChoiceField(label=_("Status"), choices=ANY, required=False)
    disguised = forms.ChoiceField(
        label=_("Disguised tutoring"),
        choices=[("", "—"), ("1", _("disguised")), ("0", _("not disguised"))],
        required=False,
    )
    refunds = forms.ChoiceField(
        label=_("Refunds"),
        choices=[("", "—"), ("1", _("with refunds")), ("0", _("without refunds"))],
        required=False,
    )
    region = forms.CharField(label=_("Region"), required=False, max_length=50)
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORTS, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = ANY + list(CaseStatus.choices)  # type: ignore[attr-defined]

    def values(self) -> dict[str, Any]:
        """The valid filters, each ignored alone when its value is not usable."""
        self.is_valid()
        return {
            name: self.cleaned_data[name].strip()
            if isinstance(self.cleaned_data.get(name), str)
            else self.cleaned_data[name]
            for name in self.fields
            if name not in self.errors and self.cleaned_data.get(name) not in (None, "")
        }


class RectificationForm(forms.Form):
    order_text = forms.CharField(
        label=_("What must be rectified"), max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
    due = forms.DateField(label=_("Rectify by"), widget=forms.DateInput(attrs={"type": "date"}))


class ReinspectionForm(forms.Form):
    passed = forms.TypedChoiceField(
        label=_("Result"),
        choices=[("1", _("rectified")), ("0", _("not rectified"))],
        coerce=lambda v: v == "1",
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class PenaltyForm(forms.Form):
    amount = YuanField(label=_("Penalty (yuan)"))
    basis = forms.CharField(label=_("Legal basis"), max_length=300)
    document = forms.CharField(label=_("Decision number"), max_length=100, required=False)


class ClosureForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class BlacklistForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


class ConcludeForm(forms.Form):
    summary = forms.CharField(
        label=_("Summary"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class RefundForm(forms.Form):
    amount = YuanField(label=_("Amount refunded (yuan)"))
    families = forms.IntegerField(label=_("Families"), min_value=1, max_value=1_000_000)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class RefundRejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)
