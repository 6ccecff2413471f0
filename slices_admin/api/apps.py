from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "slices_admin.api"
    label = "api"
