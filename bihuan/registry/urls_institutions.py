"""Routes of the registry (institutions)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
