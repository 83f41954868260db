"""Routes of the registry (map)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
