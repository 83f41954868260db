"""Query filters of the list endpoints: status, region subtree, updated since."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from bihuan.territory.models import Region


def _in_region(queryset: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
    # The list is already scoped: a region outside it narrows to nothing, it does not widen.
    path = Region.objects.filter(pk=value).values_list("path", flat=True).first()
    if path is None:
        return queryset.none()
    return queryset.filter(**{f"{name}__path__startswith": path})


def filter_for(model: type[Any]) -> type[django_filters.FilterSet]:
    """A FilterSet with the filters the model's fields allow (status, region, updated_since)."""
    names = {f.name for f in model._meta.get_fields()}
    attrs: dict[str, Any] = {}
    if "status" in names:
        attrs["status"] = django_filters.CharFilter(field_name="status")
    if "region" in names:
        attrs["region"] = django_filters.NumberFilter(
            field_name="region", method=_in_region, label="region id (and its subtree)"
        )
    elif model is Region:
        attrs["parent"] = django_filters.NumberFilter(field_name="parent")
    if "updated_at" in names:
        attrs["updated_since"] = django_filters.IsoDateTimeFilter(
            field_name="updated_at", lookup_expr="gte"
        )
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": []})
    return type(f"{model.__name__}Filter", (django_filters.FilterSet,), attrs)


class ListFilterBackend(DjangoFilterBackend):
    """django-filter's backend, skipped when the request names none of the list's filters.

    Building and validating the filter form costs as much as reading a page of rows; an
    unfiltered list does not need it.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset_class = getattr(view, "filterset_class", None)
        names = set(getattr(filterset_class, "base_filters", ()))
        if not names.intersection(request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)
