"""Limit/offset pagination with a hard ceiling."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class ApiPagination(LimitOffsetPagination):
    """``?limit=&offset=``; 50 by default, never more than 200 rows a page."""

    default_limit = 50
    max_limit = 200
