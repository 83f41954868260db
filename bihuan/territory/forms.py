"""Forms of the territory pages."""

from __future__ import annotations

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from bihuan.core.forms import check_upload
from bihuan.territory.models import ResponsiblePartyKind


class RegionImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("Columns: code, name, parent code, level. UTF-8 or GBK."),
    )

    def clean_file(self) -> UploadedFile:
        return check_upload(
            self.cleaned_data["file"],
            (".csv", ".xlsx"),
            _("Only .csv and .xlsx files are accepted."),
        )


class ResponsibleForm(forms.Form):
    kind = forms.ModelChoiceField(
        label=_("Kind"), queryset=ResponsiblePartyKind.objects.filter(is_active=True)
    )
    name = forms.CharField(label=_("Full name"), max_length=50)
    title = forms.CharField(label=_("Position"), max_length=100, required=False)
    phone = forms.RegexField(
        label=_("Phone"),
        regex=r"^\d{7,20}$",
        required=False,
        error_messages={"invalid": _("A phone number has 7 to 20 digits.")},
    )


class ResponsibleKindForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=50)
