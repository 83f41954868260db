from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "bihuan.webhooks"
    label = "webhooks"
