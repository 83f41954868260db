from django.apps import AppConfig


class TerritoryConfig(AppConfig):
    name = "bihuan.territory"
    label = "territory"
    verbose_name = "Territory"
