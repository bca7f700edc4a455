"""Public pages (signed links, no login) and the staff pages under /content/."""

from django.urls import URLPattern, URLResolver, path

from content import views

urlpatterns: list[URLPattern | URLResolver] = [
    # Public
    path("form/<str:token>/", views.form_page, name="content-form-page"),
    path("view/<str:token>/", views.email_web_view, name="content-email-view"),
    path("file/<str:token>/", views.file_download, name="content-file"),
    # Staff
    path("content/", views.index, name="content-index"),
    path("content/templates/", views.templates, name="content-templates"),
    path("content/templates/new/", views.template_edit, name="content-template-new"),
    path("content/templates/preview/", views.template_draft_preview, name="content-template-draft-preview"),
    path("content/templates/<int:template_id>/", views.template_edit, name="content-template-edit"),
    path("content/templates/<int:template_id>/preview/", views.template_preview, name="content-template-preview"),
    path("content/templates/<int:template_id>/delete/", views.template_remove, name="content-template-delete"),
    path("content/forms/", views.forms, name="content-forms"),
    path("content/forms/new/", views.form_builder, name="content-form-new"),
    path("content/forms/preview/", views.form_draft_preview, name="content-form-draft-preview"),
    path("content/forms/<int:form_id>/", views.form_builder, name="content-form-edit"),
    path("content/forms/<int:form_id>/preview/", views.form_preview, name="content-form-preview"),
    path("content/forms/<int:form_id>/delete/", views.form_remove, name="content-form-delete"),
    path("content/files/", views.files, name="content-files"),
    path("content/files/<int:file_id>/delete/", views.file_remove, name="content-file-delete"),
]
