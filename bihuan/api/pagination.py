"""Limit/offset pagination with a hard ceiling, counting the total only when asked."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

_TRUE = {"1", "true", "yes"}


class ApiPagination(LimitOffsetPagination):
    """``?limit=&offset=``; 50 by default, never more than 200 rows a page.

    A page reads one row more than it returns to know whether there is a next one. The total
    (``count``) costs a second scan of everything in the caller's places, so it is computed only
    with ``?count=true``; otherwise it is null.
    """

    default_limit = 50
    max_limit = 200
    count_query_param = "count"

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.limit = self.get_limit(request) or self.default_limit
        self.offset = self.get_offset(request)
        wanted = request.query_params.get(self.count_query_param, "").lower() in _TRUE
        rows = list(queryset[self.offset : self.offset + self.limit + 1])
        self.has_more = len(rows) > self.limit
        self.count = queryset.count() if wanted else None  # type: ignore[assignment]
        return rows[: self.limit]

    def get_next_link(self) -> str | None:
        if not self.has_more:
            return None
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        described = super().get_paginated_response_schema(schema)
        described["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "example": 123,
            "description": str(_("The total, with ?count=true; otherwise null.")),
        }
        return described

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        parameters.append(
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "description": str(_("true: also count every row (slower on large places).")),
                "schema": {"type": "boolean"},
            }
        )
        return parameters
