"""REST API: one-time codes (spec section "OTP"): POST /otp/generate and POST /otp/check.

Views only parse the body and call otp.services; the serializers describe the JSON for the
OpenAPI schema only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import ApiError, ApiErrorSerializer, ApiView, data_response, iso8601, json_object
from otp.models import OtpCode
from otp.services import (
    APP_ID_MAX_LENGTH,
    LENGTH_RANGE,
    MAX_ATTEMPTS_RANGE,
    MAX_SECONDS_VALIDITY_RANGE,
    OtpError,
    otp_check,
    otp_generate,
)


@contextmanager
def _otp_errors() -> Iterator[None]:
    """A service's OtpError leaves in the error envelope (429 with Retry-After)."""
    try:
        yield
    except OtpError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        raise ApiError(exc.code, exc.description, headers=headers) from exc


def otp_to_dict(otp: OtpCode, *, code: str) -> dict[str, Any]:
    return {
        "recipient": otp.recipient,
        "code": code,
        "attempts": otp.attempts,
        "maxAttempts": otp.max_attempts,
        "maxSecondsValidity": otp.max_seconds_validity,
        "appId": otp.app_id,
        "createdAt": iso8601(otp.created_at),
        "updatedAt": iso8601(otp.updated_at),
        "expiresAt": iso8601(otp.expires_at),
    }


# ---------------------------------------------------------------------------------------------
# OpenAPI description


class OtpSerializer(serializers.Serializer):
    recipient = serializers.CharField(help_text="International phone digits or lower-case email.")
    code = serializers.CharField(help_text="The generated code; on check, the code sent.")
    attempts = serializers.IntegerField()
    maxAttempts = serializers.IntegerField()
    maxSecondsValidity = serializers.IntegerField()
    appId = serializers.CharField(allow_blank=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()


class OtpDataSerializer(serializers.Serializer):
    data = OtpSerializer()


class OtpCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=["Valid", "Invalid code", "Maximum attempts reached", "Expired"])
    otp = OtpDataSerializer()


class OtpCheckDataSerializer(serializers.Serializer):
    data = OtpCheckSerializer()


class OtpGenerateRequestSerializer(serializers.Serializer):
    recipient = serializers.CharField(help_text="User's phone number (international format) or email.")
    alpha = serializers.BooleanField(required=False, default=False, help_text="Alphanumeric code.")
    length = serializers.IntegerField(required=False, default=4, min_value=LENGTH_RANGE[0], max_value=LENGTH_RANGE[1])
    maxAttempts = serializers.IntegerField(
        required=False, default=3, min_value=MAX_ATTEMPTS_RANGE[0], max_value=MAX_ATTEMPTS_RANGE[1]
    )
    maxSecondsValidity = serializers.IntegerField(
        required=False,
        default=60,
        min_value=MAX_SECONDS_VALIDITY_RANGE[0],
        max_value=MAX_SECONDS_VALIDITY_RANGE[1],
        help_text="Seconds between generation and validation.",
    )
    appId = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=APP_ID_MAX_LENGTH,
        help_text="The same recipient can have one pending code per appId.",
    )
    rejectIfPendingCode = serializers.BooleanField(
        required=False, default=False, help_text="Refuse (422) while a previous code is still pending."
    )


class OtpCheckRequestSerializer(serializers.Serializer):
    recipient = serializers.CharField(help_text="User's phone number or email.")
    code = serializers.CharField(help_text="Code to check.")
    caseSensitive = serializers.BooleanField(required=False, default=False)
    appId = serializers.CharField(required=False, default="", allow_blank=True, max_length=APP_ID_MAX_LENGTH)


_INVALID = OpenApiResponse(ApiErrorSerializer, description="Invalid data (error code 422).")
_BAD_JSON = OpenApiResponse(ApiErrorSerializer, description="Invalid JSON (error code 125).")
_TOO_MANY = OpenApiResponse(
    ApiErrorSerializer, description="Too many codes for the recipient or the account (error code 429, Retry-After)."
)

# ---------------------------------------------------------------------------------------------
# Views


class OtpGenerateView(ApiView):
    @extend_schema(
        tags=["OTP"],
        operation_id="otp_generate",
        summary="Generate code",
        description="Creates a code for the recipient and returns it; the caller delivers it (or sends an SMS "
        "or email with {OTP_CODE} and otpConfig). A new code replaces the recipient's pending one for the "
        "same appId.",
        request=OtpGenerateRequestSerializer,
        responses={200: OtpDataSerializer, 400: _BAD_JSON, 422: _INVALID, 429: _TOO_MANY},
        examples=[OpenApiExample("Phone number", value={"recipient": "34666555444"}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request)
        with _otp_errors():
            issued = otp_generate(account=self.account, recipient=data.get("recipient"), config=data)
        return data_response(otp_to_dict(issued.otp, code=issued.code))


class OtpCheckView(ApiView):
    @extend_schema(
        tags=["OTP"],
        operation_id="otp_check",
        summary="Check code",
        description="Counts one attempt. reason: Valid, Invalid code, Maximum attempts reached or Expired. A "
        "valid code is used up. Without a pending code the answer is Invalid code, like a wrong code.",
        request=OtpCheckRequestSerializer,
        responses={200: OtpCheckDataSerializer, 400: _BAD_JSON, 422: _INVALID},
        examples=[
            OpenApiExample("Check", value={"recipient": "34666555444", "code": "1234"}, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request)
        with _otp_errors():
            result = otp_check(
                account=self.account,
                recipient=data.get("recipient"),
                code=data.get("code"),
                app_id=data.get("appId"),
                case_sensitive=data.get("caseSensitive"),
            )
        return data_response(
            {"valid": result.valid, "reason": result.reason, "otp": {"data": otp_to_dict(result.otp, code=result.code)}}
        )


urlpatterns = [
    path("otp/generate", OtpGenerateView.as_view(), name="api-otp-generate"),
    path("otp/check", OtpCheckView.as_view(), name="api-otp-check"),
]
