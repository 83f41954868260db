from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "bihuan.jobs"
    label = "jobs"
    verbose_name = "Scheduled jobs"
