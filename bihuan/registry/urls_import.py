"""Routes of the registry (import)."""

from django.urls import URLPattern, path

from bihuan.registry import import_views

urlpatterns: list[URLPattern] = [
    path("", import_views.import_upload, name="import_upload"),
    path("template.xlsx", import_views.import_template, name="import_template"),
    path("<int:pk>/", import_views.import_detail, name="import_detail"),
    path("<int:pk>/apply/", import_views.import_apply, name="import_apply"),
    path("<int:pk>/errors.xlsx", import_views.import_errors, name="import_errors"),
]
