from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "bihuan.audit"
    label = "audit"
    verbose_name = "Audit"
