from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "bihuan.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from bihuan.accounts.sessions import on_signed_in

        user_logged_in.connect(on_signed_in, dispatch_uid="bihuan.accounts.sessions.on_signed_in")
