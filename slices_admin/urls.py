from django.contrib import admin
from django.urls import include, path

from slices_admin.accounts import views as account_views
from slices_admin.core import views as core_views
from slices_admin.metrics import views as metrics_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("login/", account_views.ConsoleLoginView.as_view(), name="login"),
    path("logout/", account_views.sign_out, name="logout"),
    path("oidc/", include("slices_admin.accounts.urls")),  # sign-in with the identity provider (404 while none)
    path("slices/", include("slices_admin.slices.urls")),
    path("audit/", include("slices_admin.audit.urls")),
    path("bulk/", include("slices_admin.bulk.urls")),
    path("tokens/", include("slices_admin.tokens.urls")),
    path("api/v1/", include("slices_admin.api.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "slices_admin.core.views.bad_request"
handler500 = "slices_admin.core.views.server_error"
