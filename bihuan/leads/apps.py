from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "bihuan.leads"
    label = "leads"
    verbose_name = "Leads and work orders"
