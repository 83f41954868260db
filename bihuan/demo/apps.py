from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "bihuan.demo"
    label = "demo"
    verbose_name = "Demo city and synthetic data"
