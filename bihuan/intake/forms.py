"""The public tip form and the bureau's reply form; the checks that matter live in the services."""

from __future__ import annotations

from typing import Any, cast

from captcha.fields import CaptchaField
from django import forms
from django.utils.translation import gettext_lazy as _

from bihuan.intake.categories import CATEGORIES
from bihuan.intake.services import normalise_code


class TipForm(forms.Form):
    """What a parent fills in on a phone; photos come from request.FILES ("photos")."""

    category = forms.ChoiceField(label=_("What is happening?"), widget=forms.RadioSelect)
    description = forms.CharField(
        label=_("What did you see?"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    place_name = forms.CharField(
        label=_("Institution or place name"), max_length=200, required=False
    )
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    latitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    longitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    happened_on = forms.DateField(
        label=_("When"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    is_anonymous = forms.BooleanField(label=_("Stay anonymous"), required=False)
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
        help_text=_("Only the education bureau sees it, to call you back if needed."),
    )
    # The honeypot: hidden from people, filled by bots.
    website = forms.CharField(required=False, label=_("Leave this empty"))
    form_token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, with_captcha: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["category"]).choices = [
            (c.code, c.name) for c in CATEGORIES
        ]
        if with_captcha:
            self.fields["captcha"] = CaptchaField(label=_("Type the characters in the picture"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("place_name") or data.get("address")):
            self.add_error("place_name", _("Give the institution's name or its address."))
        if not data.get("is_anonymous") and not data.get("phone"):
            self.add_error("phone", _("Give a mobile number, or choose to stay anonymous."))
        return data


class StatusForm(forms.Form):
    """A tracking code typed by the parent."""

    code = forms.CharField(label=_("Tracking code"), max_length=32)

    def clean_code(self) -> str:
        return normalise_code(self.cleaned_data["code"])


class ReplyForm(forms.Form):
    """The bureau's reply to the parent."""

    text = forms.CharField(
        label=_("Reply to the parent"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )
