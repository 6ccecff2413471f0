from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "slices_admin.tokens"
    label = "tokens"
    verbose_name = "API tokens"
