from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "bihuan.api"
    label = "api"

    def ready(self) -> None:
        # Registers the OpenAPI extensions of our authentication classes.
        from bihuan.api import schema  # noqa: F401
