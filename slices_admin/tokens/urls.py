from django.urls import path

from . import views

app_name = "tokens"
urlpatterns = [
    path("", views.token_list, name="list"),
    path("<int:pk>/revoke/", views.token_revoke, name="revoke"),
    path("all/", views.all_tokens, name="all"),
    path("all/<int:pk>/revoke/", views.admin_revoke, name="admin-revoke"),
]
