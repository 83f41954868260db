from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "bihuan.accounts"
    label = "accounts"
    verbose_name = "Accounts"
