"""ASGI entry point for the Slices console."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slices_admin.settings")
application = get_asgi_application()
