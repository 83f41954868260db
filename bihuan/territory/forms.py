"""Forms of the territory pages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from bihuan.territory.models import ResponsiblePartyKind


class RegionImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("Columns: code, name, parent code, level. UTF-8 or GBK."),
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB.")
                % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
            )
        name = (upload.name or "").lower()
        if not name.endswith((".csv", ".xlsx")):
            raise forms.ValidationError(_("Only .csv and .xlsx files are accepted."))
        return upload


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
