"""Form helpers shared by every app: upload checks and showing a form's errors as messages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django_stubs_ext import StrPromise


def check_upload(
    upload: UploadedFile, extensions: tuple[str, ...], refusal: str | StrPromise
) -> UploadedFile:
    """Refuse a file over IMPORT_MAX_BYTES, or whose name does not end in one of ``extensions``."""
    if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
        raise forms.ValidationError(
            _("The file is larger than %(mb)d MB.")
            % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
        )
    if not (upload.name or "").lower().endswith(extensions):
        raise forms.ValidationError(refusal)
    return upload


def flash_form_errors(request: HttpRequest, form: forms.Form) -> None:
    """Show the errors of a form posted from another page as messages on the page it returns to."""
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))
