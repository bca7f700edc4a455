from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api import json_error_response


@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Every unknown path under /api/, whatever the method. Exempt from CSRF like every API view (DRF's
    `APIView.as_view` exempts them): the API authenticates with Basic auth and never reads a cookie, and
    a CSRF refusal here would answer Django's HTML 403 page instead of the envelope's 404."""
    return json_error_response(404)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/rest/", include("accounts.api")),
    path("api/rest/", include("contacts.api")),
    # Before campaigns.api, whose sms/<ids> would otherwise take sms/certificates/<id>.
    path("api/rest/", include("certificates.api")),
    path("api/rest/", include("campaigns.coverage_api")),  # sms/coverage, sms/coverageByCountry
    path("api/rest/", include("campaigns.api")),
    path("api/rest/", include("content.api")),
    path("api/rest/", include("tracking.api")),
    path("api/rest/", include("otp.api")),
    path("api/rest/", include("validation.api")),
    # Before messaging.urls, whose webhooks/<provider>/ would otherwise take webhooks/voice/.
    path("webhooks/voice/", include("voice.urls")),
    path("webhooks/", include("messaging.urls")),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "api/docs/",
        # The split view serves Swagger UI's start-up script as a file (`?script`), not inline: the page keeps
        # the CSP that refuses inline scripts.
        SpectacularSwaggerSplitView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
    # Anything else under /api/ answers in the API's envelope, in DEBUG too.
    re_path(r"^api/", api_not_found),
    path("", include("accounts.urls")),
    path("", include("compliance.urls")),  # /settings/compliance/
    # Staff web UI (signed-in pages) and public pages (signed links, no login).
    path("", include("campaigns.compose_urls")),
    path("", include("campaigns.urls")),
    path("", include("contacts.urls")),
    path("", include("content.urls")),
    path("", include("tracking.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error_response(400)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error_response(403)
    return defaults.permission_denied(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: no API view is subject to CSRF (a test walks the URL map), so under
    /api/ this only answers if one ever is, and then in the envelope rather than as an HTML page."""
    if _is_api(request):
        return json_error_response(403)
    return csrf.csrf_failure(request, reason=reason)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error_response(404)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return json_error_response(500)
    return defaults.server_error(request)


if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
