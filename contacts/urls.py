"""Staff web pages for contacts, groups, blacklists, imports and exports (mounted at the site root)."""

from django.urls import path

from contacts import views

urlpatterns = [
    path("contacts/", views.contact_list_view, name="web-contact-list"),
    path("contacts/new/", views.contact_create_view, name="web-contact-create"),
    path("contacts/export/", views.contact_export_view, name="web-contact-export"),
    path("contacts/<int:contact_id>/", views.contact_detail_view, name="web-contact-detail"),
    path("contacts/<int:contact_id>/edit/", views.contact_edit_view, name="web-contact-edit"),
    path("contacts/<int:contact_id>/delete/", views.contact_delete_view, name="web-contact-delete"),
    path("contacts/<int:contact_id>/consent/", views.contact_consent_view, name="web-contact-consent"),
    path("contacts/<int:contact_id>/consent.csv", views.contact_consent_csv_view, name="web-contact-consent-csv"),
    path("contacts/groups/", views.group_list_view, name="web-group-list"),
    path("contacts/groups/<int:group_id>/", views.group_update_view, name="web-group-update"),
    path("contacts/blacklists/<str:type>/", views.blacklist_view, name="web-blacklist"),
    path("contacts/blacklists/<str:type>/remove/", views.blacklist_remove_view, name="web-blacklist-remove"),
    path("contacts/import/", views.import_upload_view, name="web-contact-import"),
    path("contacts/import/mapping/", views.import_mapping_view, name="web-contact-import-mapping"),
    path("contacts/imports/<int:import_id>/", views.import_status_view, name="web-contact-import-status"),
    path(
        "contacts/imports/<int:import_id>/status.json",
        views.import_status_json_view,
        name="web-contact-import-status-json",
    ),
    path(
        "contacts/imports/<int:import_id>/errors.csv",
        views.import_errors_csv_view,
        name="web-contact-import-errors",
    ),
]
