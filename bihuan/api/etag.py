"""Entity tags for optimistic concurrency: a detail's ETag, checked against If-Match on actions."""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request


class PreconditionRequired(APIException):
    """428: an action came without If-Match."""

    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_code = "precondition_required"


class PreconditionFailed(APIException):
    """412: the If-Match tag is not the row's current one."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"


def etag_of(obj: models.Model) -> str:
    """A strong ETag from the row's identity, status and last change (or creation) time."""
    stamp = getattr(obj, "updated_at", None) or getattr(obj, "created_at", None)
    parts = f"{obj._meta.label_lower}:{obj.pk}:{getattr(obj, 'status', '')}:{stamp}"
    return '"' + hashlib.sha256(parts.encode()).hexdigest()[:32] + '"'


def require_if_match(request: Request, obj: models.Model) -> None:
    """Refuse an action unless the client proves it has seen the row as it is now."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        raise PreconditionRequired(_("Send If-Match with the ETag of the record you last read."))
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    if "*" not in tags and etag_of(obj) not in tags:
        raise PreconditionFailed(
            _("The record changed since you read it. Read it again, then retry.")
        )
