from django.contrib.auth import views as auth_views
from django.urls import path

from messages_app import account_views, views

urlpatterns = [
    path("", account_views.account, name="account"),
    path("tokens/<int:token_id>/revoke/", account_views.account_token_revoke, name="account-token-revoke"),
    path("password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", account_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
]
