"""Bihuan's URLs plus /bench/bare/: the same first 20 institutions, with nothing in between."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from bihuan.registry.models import Institution

FIELDS = ("pk", "name", "address", "category", "status", "region_id", "latitude", "longitude")


def bare(request: HttpRequest) -> JsonResponse:
    """No authentication, no scope, no serializer: the ceiling the API is measured against."""
    rows = list(Institution.objects.order_by("pk").values(*FIELDS)[:20])
    return JsonResponse(rows, safe=False)


urlpatterns = [
    path("bench/bare/", bare),
    path("", include("config.urls")),
]
