"""Idempotency-Key on POST: a retried request replays the first response instead of acting twice."""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from bihuan.api.models import IdempotencyKey

KEEP = datetime.timedelta(hours=24)


def _request_hash(request: Request) -> str:
    data = request.data
    plain = data.dict() if hasattr(data, "dict") else data
    body = json.dumps(plain, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(request: Request, act: Callable[[], Response]) -> Response:
    """Run ``act`` once per (user, Idempotency-Key); same key and body replay, other body → 422."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return act()
    if len(key) > 255:
        return Response(
            {"detail": _("The Idempotency-Key is too long (at most 255 characters).")},
            status=status.HTTP_400_BAD_REQUEST,
        )
    digest = _request_hash(request)
    since = timezone.now() - KEEP
    # Expired keys may be reused; removing them here keeps the table at one day of traffic.
    IdempotencyKey.objects.filter(user=request.user, key=key, created_at__lt=since).delete()
    stored = IdempotencyKey.objects.filter(user=request.user, key=key).first()
    if stored is not None:
        return _replay(stored, digest)
    try:
        # The action and its key commit together: a retry after a lost answer finds the key
        # exactly when the action happened, and a concurrent twin's action is rolled back.
        with transaction.atomic():
            response = act()
            if response.status_code >= 500:
                return response
            try:
                with transaction.atomic():
                    IdempotencyKey.objects.create(
                        user=request.user,
                        key=key,
                        method=request.method or "POST",
                        path=request.path[:500],
                        request_hash=digest,
                        response_status=response.status_code,
                        response_body=response.data,
                    )
            except IntegrityError as exc:
                raise _KeyTaken from exc
    except _KeyTaken:
        # A concurrent request with the same key won the race; answer as it did.
        return _replay(IdempotencyKey.objects.get(user=request.user, key=key), digest)
    return response


class _KeyTaken(Exception):
    """Another request stored this key first: roll this one's action back and replay that."""


def _replay(stored: IdempotencyKey, digest: str) -> Response:
    if stored.request_hash != digest:
        return Response(
            {"detail": _("This Idempotency-Key was already used with a different request.")},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = Response(stored.response_body, status=stored.response_status)
    response["Idempotent-Replayed"] = "true"
    return response
