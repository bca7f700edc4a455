"""The real URLs plus a test-only API endpoint, so authentication is tested against the real
ApiView without depending on any app's endpoints."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from config import urls as real_urls
from config.api import ApiView, data_response


class WhoAmIView(ApiView):
    def get(self, request: Request) -> Response:
        return data_response({"account": self.account.name})


# Before the real URLs, whose catch-all answers 404 for any other /api/ path.
urlpatterns = [path("api/rest/whoami", WhoAmIView.as_view()), *real_urls.urlpatterns]

handler404 = real_urls.handler404
handler500 = real_urls.handler500
