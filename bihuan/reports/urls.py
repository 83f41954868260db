"""Figures, the loop's health, dashboards and reports."""

from django.urls import include, path

app_name = "reports"

urlpatterns = [
    path("", include("bihuan.reports.urls_figures")),
    path("health/", include("bihuan.reports.urls_health")),
    path("dashboard/", include("bihuan.reports.urls_dashboards")),
]
