"""REST API: sending SMS and email, messages, scheduled messages, campaigns and the events report
(spec sections "Send SMS Message", "GET sms/<ID>", "Send Email message", "Scheduled messages",
"Campaigns list", "Events report by sending").

Views only parse the request, call a service or selector and present the result; the rules live
in `campaigns.services`. The serializers below describe the JSON for the OpenAPI schema only.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any, Final

from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import path, register_converter, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.models import Channel
from campaigns.presenters import (
    SCHEDULED_TYPES,
    campaign_to_dict,
    events_report_csv,
    scheduled_detail_to_dict,
    scheduled_item_to_dict,
    send_outcome_to_dict,
    sms_message_to_dict,
)
from campaigns.selectors import (
    CampaignFilters,
    campaign_list,
    campaign_sendings,
    messages_by_public_ids,
    report_custom_field_keys,
    scheduled_messages,
    sending_event_rows,
    sending_get,
)
from campaigns.services import (
    SendError,
    SendOutcome,
    mailing_send,
    scheduled_cancel,
    scheduled_reschedule,
    sms_send,
)
from config.api import (
    PAGING_PARAMETERS,
    ApiError,
    ApiErrorSerializer,
    ApiView,
    BodyReader,
    ErrorDetailSerializer,
    json_object,
    not_found,
    paginated_response,
    parse_int,
    query_int,
    validation_error,
)

# ---------------------------------------------------------------------------------------------
# Request parsing

_SPEC_DATE = re.compile(r"\d{14}")


def _spec_date(data: dict[str, Any], key: str, *, code: int) -> datetime | None:
    """`YYYYmmddHHiiss` in UTC (e.g. 20130215142000); anything else is `code` (121 / 119)."""
    raw = data.get(key)
    if raw is None or raw == "":
        return None
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not _SPEC_DATE.fullmatch(text):
        raise ApiError(code, f"{_description(code)}: {key} must be YYYYmmddHHiiss (UTC), e.g. 20130215142000.")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ApiError(code, f"{_description(code)}: {text} is not a date.") from exc


def _description(code: int) -> str:
    return ApiError(code).description


def _boolean(reader: BodyReader, key: str, *, default: bool) -> bool:
    value = reader.boolean(key, default=default)
    return default if value is None else value


def _trans(data: dict[str, Any]) -> bool:
    value = data.get("trans")
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return value in (1, "1")
    raise validation_error("The trans must be 0 or 1.")


def _object(data: dict[str, Any], key: str) -> dict | None:
    value = data.get(key)
    if value is not None and not isinstance(value, dict):
        raise validation_error(f"The {key} must be an object.")
    return value


@contextmanager
def _spec_errors() -> Iterator[None]:
    """A service's SendError leaves as the spec's error envelope."""
    try:
        yield
    except SendError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        raise ApiError(exc.code, exc.description, headers=headers) from exc


def _send_response(outcome: SendOutcome, *, channel: str) -> Response:
    return Response(send_outcome_to_dict(outcome, channel=channel), status=202 if outcome.all_accepted else 207)


def _api_root(request: Request) -> str:
    """`https://host/api/rest`, for the links of the spec's samples."""
    campaigns_path = reverse("api-campaign-list")
    return request.build_absolute_uri(campaigns_path[: -len("/campaigns")])


def _iso_date(request: Request, name: str) -> datetime | None:
    """An ISO 8601 date or date-time query parameter (UTC when it has no offset); 422 otherwise.

    A `+` offset that the client did not url-encode arrives as a space and is read back as `+`.
    """
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        return None
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw.strip())
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text)
            value = datetime.combine(day, time.min) if isinstance(day, date) else None
    except ValueError:
        value = None
    if value is None:
        raise validation_error(f"The {name} must be a date in ISO 8601 format, e.g. 2019-01-01T00:00:00+00:00.")
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# OpenAPI description (documentation only)

# `YYYYmmddHHiiss` as `_spec_date` reads it (a date that does not exist, e.g. month 13, is still refused).
_SPEC_DATE_PATTERN = r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|1\d|2[0-8])([01]\d|2[0-3])[0-5]\d[0-5]\d$"


class SendResultSerializer(serializers.Serializer):
    accepted = serializers.BooleanField()
    to = serializers.CharField()
    id = serializers.CharField(required=False, help_text="The message id (accepted recipients).")
    parts = serializers.IntegerField(required=False, help_text="SMS only.")
    scheduledAt = serializers.DateTimeField(allow_null=True, required=False)
    expiresAt = serializers.DateTimeField(allow_null=True, required=False, help_text="SMS only.")
    error = ErrorDetailSerializer(required=False, help_text="Refused recipients.")


class SendResponseSerializer(serializers.Serializer):
    campaignId = serializers.IntegerField(help_text="0 when no campaignName was given.")
    sendingId = serializers.IntegerField()
    result = SendResultSerializer(many=True)


class SmsSendSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="Text; {var} and {var|filter} placeholders, {UNSUB_URL}.")
    to = serializers.ListField(child=serializers.CharField(), help_text="International numbers, e.g. 34666555444.")
    # "from" is a Python keyword: declared below.
    encoding = serializers.ChoiceField(choices=["gsm", "gsm-pt", "utf-16"], required=False)
    scheduleDate = serializers.RegexField(_SPEC_DATE_PATTERN, required=False, help_text="YYYYmmddHHiiss, UTC.")
    expirationDate = serializers.RegexField(_SPEC_DATE_PATTERN, required=False, help_text="YYYYmmddHHiiss, UTC.")
    parts = serializers.IntegerField(required=False, min_value=1, max_value=15)
    splitParts = serializers.BooleanField(required=False)
    notificationUrl = serializers.JSONField(required=False, help_text="A URL, or one URL per recipient.")
    trans = serializers.IntegerField(required=False, help_text="1 applies the spec's GSM translation table.")
    campaignName = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    certified = serializers.BooleanField(required=False)
    sub = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True)),
        required=False,
        help_text="One object of variables per recipient (strings or numbers).",
    )
    flash = serializers.BooleanField(required=False)
    availableTimes = serializers.ListField(child=serializers.DictField(), required=False)
    otpConfig = serializers.DictField(
        required=False,
        help_text="With {OTP_CODE} in the text: alpha, length 3-10, maxAttempts 1-10, maxSecondsValidity 30-600, "
        "appId, rejectIfPendingCode.",
    )


SmsSendSerializer._declared_fields["from"] = serializers.CharField(help_text="15 digits or 11 alphanumerics.")


class MailingSendSerializer(serializers.Serializer):
    body = serializers.CharField(required=False, help_text="HTML; [unsubscribe_link] is the unsubscribe URL.")
    templateId = serializers.IntegerField(required=False)
    templateV2Id = serializers.IntegerField(required=False)
    to = serializers.ListField(child=serializers.EmailField())
    cc = serializers.ListField(child=serializers.EmailField(), required=False)
    bcc = serializers.ListField(child=serializers.EmailField(), required=False)
    fromEmail = serializers.EmailField(help_text="A verified sender of the account.")
    subject = serializers.CharField()
    fromName = serializers.CharField(required=False)
    replyTo = serializers.EmailField(help_text="A verified sender of the account.")
    scheduleDate = serializers.RegexField(_SPEC_DATE_PATTERN, required=False, help_text="YYYYmmddHHiiss, UTC.")
    campaignName = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    certified = serializers.BooleanField(required=False)
    sub = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True)),
        required=False,
        help_text="One object of variables per recipient (strings or numbers).",
    )
    attachments = serializers.ListField(child=serializers.DictField(), required=False)
    trackOpens = serializers.BooleanField(required=False, default=True)
    trackClicks = serializers.BooleanField(required=False, default=True)
    otpConfig = serializers.DictField(
        required=False,
        help_text="With {OTP_CODE} in the text: alpha, length 3-10, maxAttempts 1-10, maxSecondsValidity 30-600, "
        "appId, rejectIfPendingCode.",
    )


class ScheduledUpdateSerializer(serializers.Serializer):
    guid = serializers.JSONField(required=False, help_text="One identifier or an array; none: ALL scheduled.")
    type = serializers.ChoiceField(choices=["SMS", "MAILING"], required=False)
    sendingId = serializers.IntegerField(required=False)
    scheduleDate = serializers.RegexField(_SPEC_DATE_PATTERN, help_text="YYYYmmddHHiiss, UTC.")


class ScheduledDeleteSerializer(serializers.Serializer):
    guid = serializers.JSONField(required=False, help_text="One identifier or an array; none: ALL scheduled.")
    type = serializers.ChoiceField(choices=["SMS", "MAILING"], required=False)
    sendingId = serializers.IntegerField(required=False)


_SEND_RESPONSES = {
    202: OpenApiResponse(SendResponseSerializer, description="Every recipient accepted."),
    207: OpenApiResponse(SendResponseSerializer, description="Some recipients refused (see result)."),
    400: OpenApiResponse(ApiErrorSerializer, description="Nothing sent: the first error (codes 102-126)."),
    402: OpenApiResponse(ApiErrorSerializer, description="111 Not enough credits: nothing sent."),
    422: OpenApiResponse(ApiErrorSerializer, description="A malformed field."),
}
_NOT_FOUND = OpenApiResponse(ApiErrorSerializer, description="404 Resource not found.")


# ---------------------------------------------------------------------------------------------
# Views: sending


class SmsSendView(ApiView):
    @extend_schema(
        tags=["Campaigns"],
        operation_id="sms_send",
        summary="Send SMS message",
        description="One message per recipient: 202 all accepted, 207 some refused (see `result`), 400 none "
        "accepted (the first error), 402 code 111 when the balance cannot pay (nothing is sent).",
        request=SmsSendSerializer,
        responses=_SEND_RESPONSES,
        examples=[
            OpenApiExample(
                "Send SMS",
                value={"to": ["34666555444"], "from": "TEST", "message": "SMS text message"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request)
        reader = BodyReader(data)
        with _spec_errors():
            outcome = sms_send(
                account=self.account,
                message=data.get("message"),
                to=data.get("to"),
                sender=data.get("from"),
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
                available_times=data.get("availableTimes"),
                otp_config=_object(data, "otpConfig"),
            )
        return _send_response(outcome, channel=Channel.SMS)


class MailingSendView(ApiView):
    @extend_schema(
        tags=["Campaigns"],
        operation_id="mailing_send",
        summary="Send Email message",
        description="One email per recipient, each with List-Unsubscribe and List-Unsubscribe-Post (one-click) "
        "headers; fromEmail and replyTo must be verified senders of the account.",
        request=MailingSendSerializer,
        responses=_SEND_RESPONSES,
        examples=[
            OpenApiExample(
                "Send email",
                value={
                    "to": ["test@example.com"],
                    "fromName": "Info",
                    "fromEmail": "info@sample.com",
                    "body": '<html><body><a href="https://example.com">link</a></body></html>',
                    "replyTo": "replyto@example.com",
                    "subject": "TEST",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request)
        reader = BodyReader(data)
        with _spec_errors():
            outcome = mailing_send(
                account=self.account,
                to=data.get("to"),
                from_email=data.get("fromEmail"),
                reply_to=data.get("replyTo"),
                subject=data.get("subject"),
                body=data.get("body"),
                template_id=data.get("templateId"),
                template_v2_id=data.get("templateV2Id"),
                from_name=data.get("fromName"),
                cc=data.get("cc"),
                bcc=data.get("bcc"),
                schedule_at=_spec_date(data, "scheduleDate", code=121),
                campaign_name=data.get("campaignName"),
                tags=data.get("tags"),
                certified=_boolean(reader, "certified", default=False),
                sub=data.get("sub"),
                attachments=data.get("attachments"),
                track_opens=_boolean(reader, "trackOpens", default=True),
                track_clicks=_boolean(reader, "trackClicks", default=True),
                otp_config=_object(data, "otpConfig"),
            )
        return _send_response(outcome, channel=Channel.MAILING)


MAX_IDS_PER_REQUEST: Final = 100


class SmsDetailView(ApiView):
    @extend_schema(
        tags=["Campaigns"],
        operation_id="sms_show",
        summary="Show SMS messages",
        description="One id or several separated by commas (at most 100).",
        parameters=[OpenApiParameter("ids", str, OpenApiParameter.PATH, description="Message id(s) from POST /sms.")],
        responses={200: OpenApiResponse(description="`data`: the messages found."), 404: _NOT_FOUND},
    )
    def get(self, request: Request, ids: str) -> Response:
        public_ids = list(dict.fromkeys(part.strip() for part in ids.split(",") if part.strip()))
        if not public_ids or len(public_ids) > MAX_IDS_PER_REQUEST:
            raise not_found()
        messages = messages_by_public_ids(account=self.account, public_ids=public_ids, channel=Channel.SMS)
        if not messages:
            raise not_found()
        return Response(
            {
                "data": [
                    sms_message_to_dict(
                        message,
                        self_url=request.build_absolute_uri(
                            reverse("api-sms-detail", kwargs={"ids": message.public_id})
                        ),
                    )
                    for message in messages
                ]
            }
        )


# ---------------------------------------------------------------------------------------------
# Views: scheduled messages

_GUID = re.compile(r"[A-Za-z0-9]{1,16}")
_TYPES: Final = {label: channel for channel, label in SCHEDULED_TYPES.items()}


def _guids(raw: Any) -> list[str] | None:
    """`guid`: one identifier, an array of them, or none (None: every scheduled message)."""
    if raw is None or raw == [] or raw == "":
        return None
    items = raw if isinstance(raw, list) else [raw]
    guids = []
    for item in items:
        text = str(item).strip() if isinstance(item, str | int) and not isinstance(item, bool) else ""
        if not _GUID.fullmatch(text):
            raise ApiError(120, f"Invalid GUID: {str(item)[:40]!r} is not a message identifier.")
        guids.append(text)
    return list(dict.fromkeys(guids))


def _query_guids(request: Request) -> Any:
    values = [*request.query_params.getlist("guid"), *request.query_params.getlist("guid[]")]
    parts = [part for value in values for part in value.split(",") if part.strip()]
    return parts or None


def _scheduled_type(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    channel = _TYPES.get(str(raw).strip().upper())
    if channel is None:
        raise validation_error("The selected type is invalid: SMS or MAILING.")
    return channel


def _sending_id(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    value = parse_int(raw)
    if value is None:
        raise validation_error("The sendingId must be an integer.")
    return value


def _scheduled_parameters(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """guid / type / sendingId from the JSON body, or from the query string."""
    params = request.query_params
    return {
        "guids": _guids(data["guid"] if "guid" in data else _query_guids(request)),
        "channel": _scheduled_type(data.get("type", params.get("type"))),
        "sending_id": _sending_id(data.get("sendingId", params.get("sendingId"))),
    }


SCHEDULED_PAGE_SIZE: Final = 1000


class ScheduledView(ApiView):
    @extend_schema(
        tags=["Scheduled messages"],
        operation_id="scheduled_list",
        summary="List scheduled messages",
        description="The content is shown when a single GUID is given. `limit` (1-1000, default 1000) and "
        "`page` walk long lists; `total` counts them all.",
        parameters=[
            OpenApiParameter("guid", str, description="One identifier or several (guid=a&guid=b or guid=a,b)."),
            OpenApiParameter("type", str, enum=["SMS", "MAILING"]),
            OpenApiParameter("sendingId", int),
        ],
        responses={
            200: OpenApiResponse(description="`result` and `total`."),
            400: OpenApiResponse(ApiErrorSerializer, description="120 Invalid GUID."),
        },
    )
    def get(self, request: Request) -> Response:
        data = json_object(request)
        with _spec_errors():
            arguments = _scheduled_parameters(request, data)
            messages = scheduled_messages(account=self.account, **arguments)
        if arguments["guids"] is not None and len(arguments["guids"]) == 1:
            return Response({"result": scheduled_detail_to_dict(messages.get()), "total": 1})
        limit = query_int(request, "limit", default=SCHEDULED_PAGE_SIZE, minimum=1, maximum=SCHEDULED_PAGE_SIZE)
        page = query_int(request, "page", default=1, minimum=1)
        total = messages.count()
        rows = messages[(page - 1) * limit : page * limit]
        return Response({"result": [scheduled_item_to_dict(message) for message in rows], "total": total})

    @extend_schema(
        tags=["Scheduled messages"],
        operation_id="scheduled_update",
        summary="Reschedule scheduled messages",
        description="BEWARE: without guid, every scheduled message of the account (of `type`) is updated.",
        request=ScheduledUpdateSerializer,
        responses={
            200: OpenApiResponse(description='{"result": true, "updated": N}'),
            400: OpenApiResponse(ApiErrorSerializer, description="120 Invalid GUID, 121 Invalid scheduled date."),
        },
        examples=[OpenApiExample("Reschedule", value={"guid": [100, 101], "scheduleDate": "20171011093000"})],
    )
    def put(self, request: Request) -> Response:
        data = json_object(request)
        schedule_at = _spec_date(data, "scheduleDate", code=121)
        if schedule_at is None:
            raise ApiError(121, "Invalid scheduled date: scheduleDate (YYYYmmddHHiiss, UTC) is required.")
        with _spec_errors(), transaction.atomic():
            messages = scheduled_messages(account=self.account, **_scheduled_parameters(request, data))
            updated = scheduled_reschedule(messages=messages, schedule_at=schedule_at)
        return Response({"result": True, "updated": updated})

    @extend_schema(
        tags=["Scheduled messages"],
        operation_id="scheduled_delete",
        summary="Delete scheduled messages",
        description="BEWARE: without guid, every scheduled message of the account (of `type`) is deleted. "
        "Deleted messages are kept as cancelled and their cost is refunded.",
        request=ScheduledDeleteSerializer,
        responses={
            200: OpenApiResponse(description='{"result": true, "deleted": N}'),
            400: OpenApiResponse(ApiErrorSerializer, description="120 Invalid GUID."),
        },
        examples=[OpenApiExample("Delete", value={"guid": [100, 101]})],
    )
    def delete(self, request: Request) -> Response:
        data = json_object(request)
        with _spec_errors(), transaction.atomic():
            messages = scheduled_messages(account=self.account, **_scheduled_parameters(request, data))
            deleted = scheduled_cancel(account=self.account, messages=messages)
        return Response({"result": True, "deleted": deleted})


# ---------------------------------------------------------------------------------------------
# Views: campaigns and reports


class CampaignListView(ApiView):
    @extend_schema(
        tags=["Campaigns"],
        operation_id="campaigns_list",
        summary="Campaigns list",
        parameters=[
            OpenApiParameter("name", str, description='Campaign name; "*" is a wildcard (CAMPAIGN_2020_*).'),
            OpenApiParameter("channel", str, enum=[c.value for c in Channel]),
            OpenApiParameter("beforeDate", str, description="ISO 8601, e.g. 2019-01-01T00:00:00+00:00."),
            OpenApiParameter("afterDate", str, description="ISO 8601, e.g. 2019-01-01T00:00:00+00:00."),
            *PAGING_PARAMETERS,
        ],
        responses={200: OpenApiResponse(description="`data` (campaigns with their sendings) and `meta`.")},
    )
    def get(self, request: Request) -> Response:
        channel = request.query_params.get("channel") or None
        if channel is not None and channel not in Channel.values:
            raise validation_error("The selected channel is invalid.")
        name = request.query_params.get("name")
        if name and "\x00" in name:
            raise validation_error("The name may not contain a NUL character.")
        filters = CampaignFilters(
            name=name if name and name.strip() else None,
            channel=channel,
            before=_iso_date(request, "beforeDate"),
            after=_iso_date(request, "afterDate"),
        )
        api_root = _api_root(request)

        def serialize(page: list) -> list[dict]:
            sendings = campaign_sendings(campaigns=page, channel=channel)
            return [
                campaign_to_dict(campaign, sendings=sendings.get(campaign.pk, []), api_root=api_root)
                for campaign in page
            ]

        return paginated_response(request, campaign_list(account=self.account, filters=filters), serialize)


class SendingEventsReportView(ApiView):
    @extend_schema(
        tags=["Events"],
        operation_id="sending_events_report",
        summary="Events report by sending",
        description="text/csv: campaignName,campaignId,sendingId,contactId,event,phone,email,landline,countryIso,"
        "browser,os,url,createdAt (then one column per custom field with showCustomFields=1). Streamed.",
        parameters=[
            OpenApiParameter("beforeDate", str, description="ISO 8601."),
            OpenApiParameter("afterDate", str, description="ISO 8601."),
            OpenApiParameter("showCustomFields", int, enum=[0, 1]),
        ],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The report."), 404: _NOT_FOUND},
    )
    def get(self, request: Request, sending_id: int) -> StreamingHttpResponse:
        sending = sending_get(account=self.account, sending_id=sending_id)
        if sending is None:
            raise not_found()
        before, after = _iso_date(request, "beforeDate"), _iso_date(request, "afterDate")
        show = request.query_params.get("showCustomFields", "0").strip()
        if show not in ("0", "1", ""):
            raise validation_error("The showCustomFields must be 0 or 1.")
        keys = report_custom_field_keys(account=self.account) if show == "1" else []
        rows = sending_event_rows(sending=sending, before=before, after=after, with_custom_fields=bool(keys))
        response = StreamingHttpResponse(
            events_report_csv(rows, sending=sending, custom_field_keys=keys), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="sending-{sending.pk}-events.csv"'
        return response


class MessageIdsConverter:
    """One message id or several separated by commas; never `coverage` / `coverageByCountry`,
    which are the coverage endpoints' paths under /sms/."""

    regex = r"(?!coverage(?:ByCountry)?(?:/|$))[A-Za-z0-9,]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(MessageIdsConverter, "message_ids")

urlpatterns = [
    path("sms", SmsSendView.as_view(), name="api-sms-send"),
    path("sms/<message_ids:ids>", SmsDetailView.as_view(), name="api-sms-detail"),
    path("mailing", MailingSendView.as_view(), name="api-mailing-send"),
    path("scheduled", ScheduledView.as_view(), name="api-scheduled"),
    path("campaigns", CampaignListView.as_view(), name="api-campaign-list"),
    path(
        "sendings/<int:sending_id>/reports/events",
        SendingEventsReportView.as_view(),
        name="api-sending-events-report",
    ),
]
