from django.urls import path

from . import oidc_views

app_name = "oidc"
urlpatterns = [
    path("authenticate/", oidc_views.ProviderSignInView.as_view(), name="authenticate"),
    path("callback/", oidc_views.ProviderCallbackView.as_view(), name="callback"),
]
