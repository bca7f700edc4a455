from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", views.settings_index, name="settings"),
    path("settings/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("settings/api/", views.settings_api, name="settings-api"),
    path("settings/api/rotate/", views.settings_api_rotate, name="settings-api-rotate"),
    path("settings/senders/", views.settings_senders, name="settings-senders"),
    path("settings/senders/<int:sender_id>/remove/", views.settings_sender_remove, name="settings-sender-remove"),
    path("settings/notifications/", views.settings_notifications, name="settings-notifications"),
    path("settings/notifications/secret/", views.settings_webhook_secret_rotate, name="settings-webhook-secret-rotate"),
    path("settings/providers/", views.settings_providers, name="settings-providers"),
]
