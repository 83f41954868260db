from django.apps import AppConfig


class Open311Config(AppConfig):
    name = "bihuan.open311"
    label = "open311"
