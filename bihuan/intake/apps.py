from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "bihuan.intake"
    label = "intake"
