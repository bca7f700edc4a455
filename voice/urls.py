"""Mounted under /webhooks/voice/ by config.urls (see voice.views)."""

from django.urls import path

from voice.views import call_twiml_view, gather_view

app_name = "voice"

urlpatterns = [
    path("twiml/<str:token>/", call_twiml_view, name="twiml"),
    path("gather/<str:token>/", gather_view, name="gather"),
]
