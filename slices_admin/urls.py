from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from slices_admin.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("slices/", include("slices_admin.slices.urls")),
    path("audit/", include("slices_admin.audit.urls")),
    path("bulk/", include("slices_admin.bulk.urls")),
    path("tokens/", include("slices_admin.tokens.urls")),
    path("api/v1/", include("slices_admin.api.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "slices_admin.core.views.bad_request"
handler500 = "slices_admin.core.views.server_error"
