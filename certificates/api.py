"""REST API: certificates of certified messages (spec section "Download certificates").

GET sms/certificates/<id> and mailing/certificates/<id> answer the PDF (application/pdf); the
rules (certified, final, issued once) live in certificates.services.
"""

from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from certificates.services import MAILING_CHANNELS, SMS_CHANNELS, CertificateUnavailable, certificate_for_download
from config.api import ApiError, ApiErrorSerializer, ApiView


class _AnyAccept(BaseContentNegotiation):
    """The answer is a PDF or the JSON error envelope whatever the client's Accept header says,
    so a client asking for application/pdf is not refused with 406 by DRF's negotiation."""

    def select_parser(self, request: Request, parsers: list) -> object | None:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None):
        return renderers[0], renderers[0].media_type


class _CertificateView(ApiView):
    channels: tuple[str, ...] = ()
    content_negotiation_class = _AnyAccept

    def get(self, request: Request, message_id: str) -> HttpResponse:
        try:
            certificate = certificate_for_download(account=self.account, public_id=message_id, channels=self.channels)
        except CertificateUnavailable as exc:
            raise ApiError(404, exc.description) from exc
        response = HttpResponse(bytes(certificate.pdf), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="certificate-{message_id}.pdf"'
        response["X-Certificate-SHA256"] = certificate.digest
        return response


_DESCRIPTION = (
    "The certificate (PDF) of a message sent with `certified: true`, available once the message has "
    "reached a final state: account, sender, recipient, full content, every event with its timestamp and "
    "the SHA-256 digest of that record (also in the `X-Certificate-SHA256` header; the record itself is "
    "attached to the PDF as record.json). 404 for a message that is unknown, not certified or not final yet."
)


def _schema(operation_id: str, summary: str, source: str):
    return extend_schema(
        tags=["Certificates"],
        operation_id=operation_id,
        summary=summary,
        description=_DESCRIPTION,
        parameters=[
            OpenApiParameter("message_id", str, OpenApiParameter.PATH, description=f"The message id from {source}.")
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The certificate."),
            404: OpenApiResponse(ApiErrorSerializer, description="404 Resource not found."),
        },
    )


class SmsCertificateView(_CertificateView):
    channels = SMS_CHANNELS

    @_schema("sms_certificate", "Certified SMS", "POST /sms")
    def get(self, request: Request, message_id: str) -> HttpResponse:
        return super().get(request, message_id)


class MailingCertificateView(_CertificateView):
    channels = MAILING_CHANNELS

    @_schema("mailing_certificate", "Certified emails", "POST /mailing")
    def get(self, request: Request, message_id: str) -> HttpResponse:
        return super().get(request, message_id)


urlpatterns: list[URLPattern | URLResolver] = [
    path("sms/certificates/<str:message_id>", SmsCertificateView.as_view(), name="api-sms-certificate"),
    path("mailing/certificates/<str:message_id>", MailingCertificateView.as_view(), name="api-mailing-certificate"),
]
