"""Forms of the accounts pages; they parse input, services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from bihuan.accounts.models import Department, DepartmentKind, Role


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=128)


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"), widget=forms.PasswordInput, max_length=128
    )
    password = forms.CharField(label=_("New password"), widget=forms.PasswordInput, max_length=128)
    password_again = forms.CharField(
        label=_("New password again"), widget=forms.PasswordInput, max_length=128
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two new passwords differ."))
        return data


class UserCreateForm(forms.Form):
    username = forms.RegexField(
        label=_("Username"),
        max_length=150,
        regex=r"^[A-Za-z0-9_.@+-]+$",
        error_messages={"invalid": _("Letters, digits and _ . @ + - only.")},
    )
    display_name = forms.CharField(label=_("Full name"), max_length=50)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    password = forms.CharField(
        label=_("Initial password"), widget=forms.PasswordInput, max_length=128
    )


class PasswordResetForm(forms.Form):
    password = forms.CharField(
        label=_("New initial password"), widget=forms.PasswordInput, max_length=128
    )


class AssignmentForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    region_code = forms.RegexField(
        label=_("Region code"),
        regex=r"^(\d{6}|\d{12})$",
        error_messages={"invalid": _("A division code has 6 or 12 digits.")},
    )
    department = forms.ModelChoiceField(
        label=_("Department"), queryset=Department.objects.none(), required=False
    )
    sentinel_id = forms.IntegerField(label=_("Sentinel number"), required=False, min_value=1)
    area_id = forms.IntegerField(label=_("Area number"), required=False, min_value=1)


class DepartmentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=DepartmentKind.choices)
    name = forms.CharField(label=_("Name"), max_length=100)
    short_name = forms.CharField(label=_("Short name"), max_length=20)
    jurisdiction_code = forms.RegexField(
        label=_("Jurisdiction code"),
        regex=r"^(\d{6}|\d{12})$",
        error_messages={"invalid": _("A division code has 6 or 12 digits.")},
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=20,
        help_text=_("The 6 digits your authenticator app shows, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )
