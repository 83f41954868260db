"""Routes of the registry (import)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
