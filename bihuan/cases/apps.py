from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "bihuan.cases"
    label = "cases"
    verbose_name = "Cases and refunds"
