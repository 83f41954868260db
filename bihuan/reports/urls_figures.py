"""Routes of the five figures, the records behind them, and the periodic reports."""

from django.urls import path

from bihuan.reports import views_figures as views

urlpatterns = [
    path("", views.figures_page, name="figures"),
    path("records/<slug:metric>/", views.records_page, name="records"),
    path("report/", views.report_page, name="report"),
]
