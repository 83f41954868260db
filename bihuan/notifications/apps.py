from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "bihuan.notifications"
    label = "notifications"
    verbose_name = "Notifications"
