"""The project's URL map plus one staff page with an id that the isolation table does not know."""

from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("invoices/<int:invoice_id>/", lambda request, invoice_id: HttpResponse(), name="web-invoice-detail"),
]
