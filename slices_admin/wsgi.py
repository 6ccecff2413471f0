"""WSGI entry point for the Slices console."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slices_admin.settings")
application = get_wsgi_application()
