"""Staff web pages for campaigns and scheduled messages (mounted at the site root)."""

from django.urls import path

from campaigns import views

urlpatterns = [
    path("campaigns/", views.campaign_list_view, name="web-campaign-list"),
    path("campaigns/sendings/", views.sending_list_view, name="web-sending-list"),
    path("campaigns/sendings/<int:sending_id>/", views.sending_detail_view, name="web-sending-detail"),
    path("campaigns/sendings/<int:sending_id>/chart/", views.sending_chart_view, name="web-sending-chart"),
    path("campaigns/sendings/<int:sending_id>/status.json", views.sending_status_view, name="web-sending-status"),
    path(
        "campaigns/sendings/<int:sending_id>/events.csv", views.sending_events_csv_view, name="web-sending-events-csv"
    ),
    path(
        "campaigns/sendings/<int:sending_id>/reschedule/",
        views.sending_reschedule_view,
        name="web-sending-reschedule",
    ),
    path(
        "campaigns/sendings/<int:sending_id>/<str:action>/",
        views.sending_action_view,
        name="web-sending-action",
    ),
    path("campaigns/scheduled/", views.scheduled_list_view, name="web-scheduled-list"),
    path("campaigns/scheduled/action/", views.scheduled_action_view, name="web-scheduled-action"),
]
