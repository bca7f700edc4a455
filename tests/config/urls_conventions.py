"""Test-only endpoints that exercise the API conventions in config.api, in front of the real URLs
(the real catch-all for unknown /api/ paths would otherwise answer first)."""

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from config import urls as real_urls
from config.api import ApiView, data_response, json_object, paginated_response
from contacts.models import Group


class EchoView(ApiView):
    def post(self, request: Request) -> Response:
        return data_response(json_object(request))


class FailingView(ApiView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("secret internal detail: /srv/app/settings.py")


class DatabaseFailingView(ApiView):
    def get(self, request: Request) -> Response:
        raise DatabaseError('relation "secret_table" does not exist')


class GroupListView(ApiView):
    def get(self, request: Request) -> Response:
        groups = Group.objects.filter(account=self.account).order_by("id")
        return paginated_response(request, groups, lambda rows: [{"id": g.id, "name": g.name} for g in rows])


def failing_plain_django_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret internal detail outside DRF")


urlpatterns = [
    path("api/rest/test/echo", EchoView.as_view()),
    path("api/rest/test/failing", FailingView.as_view()),
    path("api/rest/test/database-failing", DatabaseFailingView.as_view()),
    path("api/rest/test/groups", GroupListView.as_view()),
    path("api/rest/test/plain-failing", failing_plain_django_view),
    *real_urls.urlpatterns,
]

handler404 = real_urls.handler404
handler500 = real_urls.handler500
