from django.urls import path

from campaigns import compose_views

urlpatterns = [
    path("compose/", compose_views.compose, name="compose"),
    path("compose/audience/", compose_views.compose_audience, name="compose-audience"),
    path("compose/preview/", compose_views.compose_preview, name="compose-preview"),
    path("compose/contacts/", compose_views.compose_contact_search, name="compose-contacts"),
    path("compose/template/", compose_views.compose_template_body, name="compose-template"),
]
