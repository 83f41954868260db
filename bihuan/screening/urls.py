"""Screening's pages: checklists, rounds and task tables, inspections on the phone, and review."""

from django.urls import include, path

app_name = "screening"

urlpatterns = [
    path("checklists/", include("bihuan.screening.urls_checklists")),
    path("rounds/", include("bihuan.screening.urls_rounds")),
    path("", include("bihuan.screening.urls_inspect")),
    path("review/", include("bihuan.screening.urls_review")),
]
