"""REST API: landing SMS, the URL shortener and the image generator (spec sections "Landing SMS",
"URL Shortener", "Image generator"). Thin views over campaigns.sending.channels.landing and tracking.services."""

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.api import (
    _SEND_RESPONSES,
    SmsSendSerializer,
    _boolean,
    _send_response,
    _spec_date,
    _spec_errors,
    _trans,
)
from campaigns.models import Channel
from campaigns.sending.channels.landing import landing_sms_send
from config.api import ApiErrorSerializer, ApiView, BodyReader, data_response, json_object, validation_error
from tracking import services

# ---------------------------------------------------------------------------------------------
# OpenAPI description (documentation only)


class LandingSmsSerializer(SmsSendSerializer):
    message = serializers.RegexField(
        r"\{LAND_URL\}", help_text="Text holding {LAND_URL}, each recipient's link to the landing page."
    )
    templateBody = serializers.CharField(
        required=False, help_text="The landing page's HTML. Required without a template id."
    )
    templateId = serializers.IntegerField(required=False, help_text="Legacy template id.")
    templateV2Id = serializers.IntegerField(required=False, help_text="Template id.")


LandingSmsSerializer._declared_fields.pop("availableTimes", None)
LandingSmsSerializer._declared_fields.pop("otpConfig", None)


class ShortenItemSerializer(serializers.Serializer):
    longUrl = serializers.CharField()


class ShortenRequestSerializer(serializers.Serializer):
    urls = ShortenItemSerializer(many=True)


class ShortenResultSerializer(serializers.Serializer):
    longUrl = serializers.JSONField()
    shortUrl = serializers.URLField(allow_null=True)
    error = serializers.BooleanField()


class ShortenResponseSerializer(serializers.Serializer):
    data = ShortenResultSerializer(many=True)


class ImageItemSerializer(serializers.Serializer):
    externalId = serializers.CharField()
    extension = serializers.ChoiceField(choices=["jpg", "png"])
    base64 = serializers.CharField(help_text="The image file, base64-encoded.")


class ImagesRequestSerializer(serializers.Serializer):
    images = ImageItemSerializer(many=True)


class ImageResultSerializer(serializers.Serializer):
    externalId = serializers.JSONField()
    imageUrl = serializers.URLField(allow_null=True)
    error = serializers.BooleanField()


class ImagesResponseSerializer(serializers.Serializer):
    data = ImageResultSerializer(many=True)


_INVALID = OpenApiResponse(ApiErrorSerializer, description="422: the list is missing, empty or too long.")


def _items(data: dict[str, Any], key: str, *, maximum: int) -> list[Any]:
    items = BodyReader(data).array(key, required=True)
    if not items:
        raise validation_error(f"The {key} field is required.")
    if len(items) > maximum:
        raise validation_error(f"The {key} may not have more than {maximum} items.")
    return items


# ---------------------------------------------------------------------------------------------
# Views


class LandingSmsSendView(ApiView):
    @extend_schema(
        tags=["Landing SMS"],
        operation_id="landing_sms_send",
        summary="Send Landing SMS message",
        description="Like `/sms`, with a landing page: `{LAND_URL}` in the message (141 without it) becomes each "
        "recipient's short link to the page (templateBody, templateId or templateV2Id; 140 without any), rendered "
        "with their variables and the templates' custom links ([unsubscribe_link], [form_{ID}], [attachment_{ID}]; "
        "422 for an unknown form or file). At most 8 parts.",
        request=LandingSmsSerializer,
        responses=_SEND_RESPONSES,
        examples=[
            OpenApiExample(
                "Landing SMS",
                value={
                    "to": ["34666555444"],
                    "message": "TEST API LANDING {LAND_URL}",
                    "from": "LANDINGAPI",
                    "templateBody": "<html><head><title>LANDING TEST</title></head><body><h1>HELLO LANDING</h1>"
                    "</body></html>",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request)
        reader = BodyReader(data)
        with _spec_errors():
            outcome = landing_sms_send(
                account=self.account,
                message=data.get("message"),
                to=data.get("to"),
                sender=data.get("from"),
                template_body=data.get("templateBody"),
                template_id=data.get("templateId"),
                template_v2_id=data.get("templateV2Id"),
                encoding=data.get("encoding"),
                schedule_at=_spec_date(data, "scheduleDate", code=121),
                expires_at=_spec_date(data, "expirationDate", code=119),
                parts=data.get("parts"),
                split_parts=_boolean(reader, "splitParts", default=False),
                notification_url=data.get("notificationUrl"),
                trans=_trans(data),
                campaign_name=data.get("campaignName"),
                tags=data.get("tags"),
                certified=_boolean(reader, "certified", default=False),
                sub=data.get("sub"),
                flash=_boolean(reader, "flash", default=False),
            )
        # Same result shape as /sms (parts, scheduledAt, expiresAt).
        return _send_response(outcome, channel=Channel.SMS)


class ShortenView(ApiView):
    @extend_schema(
        tags=["URL Shortener"],
        operation_id="shortener_shorten",
        summary="Generate short URLs",
        description="One result per item, in order; an item that is not an http(s) URL gets `shortUrl: null, "
        "error: true`. The same URL always gets the same short link.",
        request=ShortenRequestSerializer,
        responses={200: ShortenResponseSerializer, 422: _INVALID},
    )
    def post(self, request: Request) -> Response:
        items = _items(json_object(request, nul_allowed=True), "urls", maximum=services.MAX_SHORTEN_URLS)
        urls = [item.get("longUrl") if isinstance(item, dict) else item for item in items]
        results = services.urls_shorten(account=self.account, urls=urls)
        return data_response(
            [{"longUrl": result.long_url, "shortUrl": result.short_url, "error": result.error} for result in results]
        )


class ImagesGenerateView(ApiView):
    @extend_schema(
        tags=["Image generator"],
        operation_id="images_generate",
        summary="Generate images",
        description="Stores each base64 JPEG or PNG (checked by decoding it; at most 5 MB and 20 megapixels) and "
        "answers its public URL; an item that is not a real image of its extension gets `imageUrl: null, "
        "error: true`.",
        request=ImagesRequestSerializer,
        responses={200: ImagesResponseSerializer, 422: _INVALID},
    )
    def post(self, request: Request) -> Response:
        items = _items(json_object(request), "images", maximum=services.MAX_IMAGES)
        results = services.images_generate(account=self.account, items=items)
        return data_response(
            [{"externalId": r.external_id, "imageUrl": r.image_url, "error": r.error} for r in results]
        )


urlpatterns = [
    path("landingsms", LandingSmsSendView.as_view(), name="api-landing-sms"),
    path("shortener/shorten", ShortenView.as_view(), name="api-shortener-shorten"),
    path("images/generate", ImagesGenerateView.as_view(), name="api-images-generate"),
]
