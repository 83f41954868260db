"""The loop's health: ranking tables by department, district and area."""

from django.urls import path

from bihuan.reports import views_health

urlpatterns = [
    path("", views_health.health_page, name="health"),
]
