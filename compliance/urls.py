from django.urls import path

from compliance import views

urlpatterns = [
    path("settings/compliance/", views.settings_compliance, name="settings-compliance"),
    path("settings/compliance/quiet-hours/", views.settings_quiet_hours_add, name="settings-quiet-hours-add"),
    path(
        "settings/compliance/quiet-hours/<int:quiet_hours_id>/remove/",
        views.settings_quiet_hours_remove,
        name="settings-quiet-hours-remove",
    ),
    path("settings/compliance/caps/", views.settings_cap_add, name="settings-cap-add"),
    path("settings/compliance/caps/<int:cap_id>/remove/", views.settings_cap_remove, name="settings-cap-remove"),
]
