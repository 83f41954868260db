"""Routes of the dashboards (under /reports/dashboard/)."""

from django.urls import path

from bihuan.reports import views_dashboards as views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("data.json", views.dashboard_data, name="dashboard_data"),
    path("map.json", views.dashboard_map, name="dashboard_map"),
    path("big/", views.big_screen, name="big_screen"),
]
