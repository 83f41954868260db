from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "bihuan.screening"
    label = "screening"
    verbose_name = "Sentinel screening"
