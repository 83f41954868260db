from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "bihuan.reports"
    label = "reports"
    verbose_name = "Figures, dashboards and reports"
