"""Errors in the API's one shape: {"detail": message, "field": name or null}."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from bihuan.core.errors import NotAllowed, ServiceError


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """ServiceError → 400 with its field; NotAllowed → 404 as the pages answer."""
    if isinstance(exc, RequestDataTooBig):
        # Django would answer with its HTML 400 page; an API client reads JSON.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        return Response(
            {
                "detail": _("The request body is larger than %(mb)d MB.")
                % {"mb": limit // (1024 * 1024)},
                "field": None,
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, NotAllowed):
        exc = Http404()
    elif isinstance(exc, ServiceError):
        return Response(
            {"detail": exc.message, "field": exc.field}, status=status.HTTP_400_BAD_REQUEST
        )
    return exception_handler(exc, context)
