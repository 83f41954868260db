from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "bihuan.registry"
    label = "registry"
    verbose_name = "Institution registry"
