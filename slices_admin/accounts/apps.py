from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "slices_admin.accounts"
    label = "accounts"
