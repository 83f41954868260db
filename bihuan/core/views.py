"""Views that belong to no app: health check and error pages."""

from __future__ import annotations

import time

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the database's answer to a query; 503 when it does not answer."""
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
    except Exception as exc:  # any database failure means unhealthy
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse(
        {
            "status": "ok",
            "database": connection.vendor,
            "answer": row[0] if row else None,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The same page for a missing record and a record outside the user's scope."""
    return render(request, "404.html", status=404)
