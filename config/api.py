"""The REST API's conventions, in one place: error envelope and codes, JSON bodies, pagination,
dates, Basic authentication with API passwords, and the base view every app's API module uses.

Every app's `api.py` stays thin: it reads the request with `json_object` / `BodyReader`, calls a
service or selector, and answers with `data_response` or `paginated_response`.
"""

import base64
import binascii
import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, JsonResponse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

# Re-exported for the API views; they live in config.parsing (no DRF) so the domain can use them.
from config.parsing import parse_boolean as parse_boolean
from config.parsing import parse_decimal as parse_decimal
from config.parsing import parse_int as parse_int

logger = logging.getLogger(__name__)

# The spec's Errors table: code -> (HTTP status, description).
ERRORS: dict[int, tuple[int, str]] = {
    0: (202, "Accepted for delivery"),
    101: (500, "Internal Database error"),
    102: (400, "No valid recipients"),
    103: (401, "Username or password unknown"),
    104: (400, "Text message missing"),
    105: (400, "Text message too long"),
    106: (400, "Sender missing"),
    107: (400, "Sender too long"),
    108: (400, "No valid Datetime for send"),
    109: (400, "Notification URL incorrect"),
    110: (400, "Exceeded maximum parts allowed or incorrect number of parts"),
    111: (402, "Not enough credits"),
    112: (401, "IP address not allowed"),
    113: (400, "Invalid coding"),
    114: (400, "Invalid subject"),
    115: (400, "Sender is not verified"),
    116: (400, "Invalid replyTo"),
    117: (400, "ReplyTo is not verified"),
    118: (401, "Email blocked for exceeding the hard-bounced limit allowed"),
    119: (400, "Invalid expiration date"),
    120: (400, "Invalid GUID"),
    121: (400, "Invalid scheduled date"),
    122: (500, "Update error"),
    123: (500, "Delete error"),
    125: (400, "Invalid JSON"),
    126: (400, "Empty campaign name"),
    130: (400, "Invalid voice language"),
    131: (400, "Invalid voice gender"),
    132: (400, "Invalid voice caller"),
    133: (400, "Invalid audio URL"),
    134: (400, "Unsupported audio format"),
    140: (400, "Template missing"),
    141: (400, "Missing landing placeholder"),
    142: (400, "Can't split variable placeholders"),
    # The windows of `availableTimes` (messaging.scheduling.AvailableTimesError).
    183: (400, "Available times value is not an array"),
    184: (400, "Available times day is not an integer"),
    185: (400, "Available times day out of range"),
    186: (400, "Available times from hour format error"),
    187: (400, "Available times to hour format error"),
    188: (400, "Available times from hour is greater than to hour"),
    189: (400, "Missing available time object property"),
    194: (400, "Available times is specified but its value is empty"),
    196: (400, "Available times range is too short"),
    # HTTP-level errors the table leaves out; the code repeats the status, as the spec does for 404/422.
    400: (400, "Bad request"),
    403: (403, "Forbidden"),
    404: (404, "Resource not found"),
    405: (405, "Method not allowed"),
    413: (413, "Request body too large"),
    431: (431, "Request header fields too large"),
    422: (422, "The given data was invalid."),
    429: (429, "Too many requests"),
    500: (500, "Internal server error"),
}


class ApiError(drf_exceptions.APIException):
    """An error answered as `{"error": {"code": N, "description": "..."}}`."""

    def __init__(
        self, code: int, description: str | None = None, *, status: int | None = None, headers: dict | None = None
    ):
        default_status, default_description = ERRORS.get(code, (400, "Bad request"))
        self.error_code = code
        self.status_code = status or default_status
        self.description = description or default_description
        self.headers = headers or {}
        super().__init__(self.description)


def validation_error(description: str) -> ApiError:
    return ApiError(422, description)


def not_found() -> ApiError:
    return ApiError(404)


WWW_AUTHENTICATE = 'Basic realm="api"'


def error_body(code: int, description: str) -> dict:
    return {"error": {"code": code, "description": description}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        return _first_message(next(iter(detail.values()), "Invalid data."))
    if isinstance(detail, list | tuple):
        return _first_message(detail[0]) if detail else "Invalid data."
    return str(detail)


def _error_for(exc: Exception) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf_exceptions.Throttled):
        return ApiError(429, headers={"Retry-After": str(exc.wait or 60)})
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return ApiError(103)
    if isinstance(exc, drf_exceptions.ParseError):
        return ApiError(125)
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return ApiError(405)
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return ApiError(403)
    if isinstance(exc, drf_exceptions.NotFound | Http404 | ObjectDoesNotExist):
        return ApiError(404)
    if isinstance(exc, drf_exceptions.ValidationError):
        return ApiError(422, _first_message(exc.detail))
    if isinstance(exc, DjangoValidationError):
        return ApiError(422, exc.messages[0] if exc.messages else "Invalid data.")
    if isinstance(exc, RequestDataTooBig):
        return ApiError(413)
    if isinstance(exc, SuspiciousOperation):
        return ApiError(400, "Bad request", status=400)
    if isinstance(exc, drf_exceptions.APIException):
        return ApiError(exc.status_code, _first_message(exc.detail), status=exc.status_code)
    return None


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every failure leaves in the spec's envelope, never as HTML."""
    error = _error_for(exc)
    if error is None:
        code = 101 if isinstance(exc, DatabaseError) else 500
        logger.exception("Unhandled API error", exc_info=exc)
        error = ApiError(code)
    response = Response(error_body(error.error_code, error.description), status=error.status_code)
    for name, value in error.headers.items():
        response[name] = value
    if response.status_code == 401 and not response.has_header("WWW-Authenticate"):
        # A 401 must say how to authenticate (RFC 9110); DRF only adds it for its own exceptions.
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def json_error_response(code: int) -> JsonResponse:
    status, description = ERRORS[code]
    return JsonResponse(error_body(code, description), status=status)


# ---------------------------------------------------------------------------------------------
# Request bodies


def json_object(request: Request | HttpRequest, *, nul_allowed: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, whatever Content-Type the client sent (an empty body is `{}`).

    Read from the raw body rather than DRF parsers so that a missing or wrong Content-Type header,
    common with curl, still works, and malformed JSON always answers 400/125. `nul_allowed` is for
    endpoints that judge each item of a list on its own (the shortener answers a per-URL error).
    """
    raw = request.body
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except RecursionError as exc:  # nesting deeper than the interpreter's stack
        raise ApiError(125, _TOO_DEEP) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(125) from exc
    if not isinstance(data, dict):
        raise ApiError(125, "Invalid JSON: the request body must be a JSON object")
    # Counting brackets (C speed, strings included) bounds the depth: only a body that could be too deep
    # is walked.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(data):
        raise ApiError(125, _TOO_DEEP)
    # PostgreSQL cannot store a NUL character: refuse it here, naming the field, for every endpoint at
    # once (the raw check keeps the walk off ordinary bodies).
    if not nul_allowed and b"\\u0000" in raw and (where := _nul_path(data, "")) is not None:
        raise ApiError(422, f"The {where or 'body'} may not contain a NUL character.")
    return data


# JSON bodies nested deeper than this answer 400/125: no endpoint takes more than a few levels, and every
# walk over a body (the NUL check, validation) stays shallow.
MAX_JSON_DEPTH = 64
_TOO_DEEP = f"Invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels"


def _too_deep(data: Any) -> bool:
    """Whether a parsed JSON value nests arrays and objects deeper than MAX_JSON_DEPTH (the body itself is
    level 1). Iterative, so the walk itself cannot overflow."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _nul_path(value: Any, path: str) -> str | None:
    """Where in a parsed JSON value the first NUL character is (`to.2`, `sub.0.name`), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return path or "body"
            if (found := _nul_path(item, here)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_path(item, f"{path}.{index}" if path else str(index))) is not None:
                return found
    return None


class BodyReader:
    """Reads typed fields from a JSON object, raising 422 with the first problem in plain words."""

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def present(self, key: str) -> bool:
        return self.data.get(key) is not None

    def string(self, key: str, *, required: bool = False, max_length: int = 255) -> str | None:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise validation_error(f"The {key} field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise validation_error(f"The {key} must be a string.")
        text = str(value).strip()
        if len(text) > max_length:
            raise validation_error(f"The {key} may not be greater than {max_length} characters.")
        return text

    def integer(self, key: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise validation_error(f"The {key} field is required.")
            return None
        parsed = parse_int(value)
        if parsed is None:
            raise validation_error(f"The {key} must be an integer.")
        if minimum is not None and parsed < minimum:
            raise validation_error(f"The {key} must be at least {minimum}.")
        return parsed

    def boolean(self, key: str, *, default: bool | None = None) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return default
        if (parsed := parse_boolean(value)) is None:
            raise validation_error(f"The {key} field must be true or false.")
        return parsed

    def array(self, key: str, *, required: bool = False) -> list | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise validation_error(f"The {key} field is required.")
            return None
        if not isinstance(value, list):
            raise validation_error(f"The {key} must be an array.")
        return value

    def string_list(self, key: str, *, required: bool = False, max_length: int = 255) -> list[str] | None:
        items = self.array(key, required=required)
        if items is None:
            return None
        result = []
        for index, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, str | int) or not str(item).strip():
                raise validation_error(f"The {key}.{index} must be a non-empty string.")
            text = str(item).strip()
            if len(text) > max_length:
                raise validation_error(f"The {key}.{index} may not be greater than {max_length} characters.")
            result.append(text)
        return result

    def int_list(self, key: str, *, required: bool = False) -> list[int] | None:
        items = self.array(key, required=required)
        if items is None:
            return None
        result = []
        for index, item in enumerate(items):
            parsed = parse_int(item)
            if parsed is None:
                raise validation_error(f"The {key}.{index} must be an integer.")
            result.append(parsed)
        return result


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = parse_int(raw)
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise validation_error(f"The {name} must be an integer {bounds}.")
    return value


# ---------------------------------------------------------------------------------------------
# Responses


def iso8601(value: datetime | date | None) -> str | None:
    """`2018-03-13T14:32:25+00:00`, the spec's date format (always UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return value.isoformat()


def data_response(data: Any, *, status: int = 200) -> Response:
    return Response({"data": data}, status=status)


def no_content() -> Response:
    return Response(status=204)


DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# `limit` and `page` of every paginated list, as `paginated_response` reads them.
PAGING_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        description=f"Items per page. Default {DEFAULT_PAGE_SIZE}, maximum {MAX_PAGE_SIZE}.",
    ),
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number, from 1."),
]


def paginated_response(
    request: Request,
    queryset: QuerySet,
    serialize: Callable[[list], Iterable[dict]],
) -> Response:
    """`{"data": [...], "meta": {"pagination": {...}}}` with `limit` (1..1000, default 100) and `page`.

    `serialize` receives the whole page at once so it can fetch related rows in one query.
    """
    limit = query_int(request, "limit", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    page = query_int(request, "page", default=1, minimum=1)
    total = queryset.count()
    total_pages = max(1, math.ceil(total / limit))
    offset = (page - 1) * limit
    rows = list(queryset[offset : offset + limit]) if offset < total else []
    links = {}
    if page > 1:
        links["previous"] = _page_url(request, min(page - 1, total_pages))
    if page < total_pages:
        links["next"] = _page_url(request, page + 1)
    return Response(
        {
            "data": list(serialize(rows)),
            "meta": {
                "pagination": {
                    "total": total,
                    "count": len(rows),
                    "per_page": limit,
                    "current_page": page,
                    "total_pages": total_pages,
                    "links": links,
                }
            },
        }
    )


def _page_url(request: Request, page: int) -> str:
    params = [(key, value) for key, value in request.query_params.items() if key != "page"]
    params.append(("page", str(page)))
    return request.build_absolute_uri(request.path) + "?" + urlencode(params)


# ---------------------------------------------------------------------------------------------
# Authentication


def client_ip(request: HttpRequest) -> str:
    """The caller's address; X-Forwarded-For is only trusted for the configured number of proxies."""
    if settings.NUM_PROXIES:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-min(settings.NUM_PROXIES, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


# "Basic " + base64 of a username (150 characters at most) + ":" + an API password (32 generated characters),
# with ample room for operator-chosen passwords; anything longer is not a credential of ours.
MAX_AUTHORIZATION_LENGTH = 4096


def _failure_keys(ip: str, username: str) -> tuple[str, str]:
    return f"apiauth:fail:ip:{ip}", f"apiauth:fail:user:{username.lower()}"


def _known_good_key(user_id: int, ip: str) -> str:
    return f"apiauth:good:{user_id}:{ip}"


def _count_failure(key: str) -> None:
    window = settings.API_AUTH_FAILURE_WINDOW
    if not cache.add(key, 1, window):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, window)


class ApiPasswordAuthentication(BaseAuthentication):
    """HTTP Basic `username:apiPassword` checked against the user's HMAC'd API password.

    Order matters: throttle, then the IP allowlist (112) before the password (103) so an answer
    from a foreign address never reveals whether the password was right. Failures are counted per
    IP and per username; the per-username limit is not applied to addresses that have recently
    authenticated for that user, so an attacker cannot lock a legitimate integration out.
    """

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        from accounts.models import User
        from accounts.services import api_password_matches

        header = request.META.get("HTTP_AUTHORIZATION", "")
        if len(header) > MAX_AUTHORIZATION_LENGTH:
            # Refused unread: no decoding, lookup or hashing for a header no real credential fills; counted
            # against the address like any failure.
            ip_key = _failure_keys(client_ip(request), "")[0]
            self._throttle(ip_key, settings.API_AUTH_MAX_FAILURES_PER_IP)
            _count_failure(ip_key)
            raise ApiError(103)
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise ApiError(103)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ApiError(103) from exc
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            raise ApiError(103)

        ip = client_ip(request)
        ip_key, user_key = _failure_keys(ip, username)
        user = (
            User.objects.select_related("api_credential", "account")
            .filter(username=username, is_active=True, account__isnull=False, api_credential__isnull=False)
            .first()
        )
        known_good = user is not None and cache.get(_known_good_key(user.pk, ip)) is not None
        self._throttle(ip_key, settings.API_AUTH_MAX_FAILURES_PER_IP)
        if not known_good:
            self._throttle(user_key, settings.API_AUTH_MAX_FAILURES_PER_USER)

        if user is None:
            self._fail(ip_key, user_key)
            raise ApiError(103)
        credential = user.api_credential
        if not credential.allows_ip(ip):
            self._fail(ip_key, user_key)
            raise ApiError(112)
        if not api_password_matches(credential=credential, password=password):
            self._fail(ip_key, user_key)
            raise ApiError(103)

        cache.set(_known_good_key(user.pk, ip), 1, 86400)
        now = timezone.now()
        if credential.last_used_at is None or (now - credential.last_used_at).total_seconds() > 300:
            type(credential).objects.filter(pk=credential.pk).update(last_used_at=now)
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE

    @staticmethod
    def _throttle(key: str, limit: int) -> None:
        if (cache.get(key) or 0) >= limit:
            window = settings.API_AUTH_FAILURE_WINDOW
            raise ApiError(
                429,
                f"Too many failed authentication attempts. Try again in {window} seconds.",
                headers={"Retry-After": str(window)},
            )

    @staticmethod
    def _fail(ip_key: str, user_key: str) -> None:
        _count_failure(ip_key)
        _count_failure(user_key)


class ApiAutoSchema(AutoSchema):
    """The OpenAPI description of an `ApiView` operation, completed with what every one of them does.

    The views read JSON themselves (`json_object`, no DRF parsers), so the request body is declared
    as `application/json` here; DELETE bodies (blacklist, scheduled messages) are described too. Every
    operation also documents the answers `ApiView` itself gives before the endpoint runs: 401 (Basic
    auth: 103, 112), 429 (authentication throttle), 422 (a NUL character in a query parameter); with a
    body 400 (125 Invalid JSON) and 413; with a path parameter 404. An endpoint's own description of a
    code wins.
    """

    def map_parsers(self) -> list[str]:
        return ["application/json"]

    def get_description(self) -> str:
        # Without an extend_schema description, the method's docstring only (never ApiView's).
        return get_doc(getattr(self.view, self.method.lower(), None))

    def _get_request_body(self, direction: str = "request") -> dict | None:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        if self.get_request_serializer() is None:
            return None
        # drf-spectacular only describes bodies of POST / PUT / PATCH; these DELETEs read one.
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        common = {
            "401": "Username or password unknown (103) or IP address not allowed (112).",
            "429": "Too many failed authentications from this address or for this username (Retry-After).",
            "422": "Invalid data, e.g. a parameter holding a NUL character.",
        }
        if self.method in ("POST", "PUT", "PATCH") or self.get_request_serializer() is not None:
            common["400"] = "Invalid JSON (125): the body is not a JSON object."
            common["413"] = "Request body too large."
        if "{" in self.path:
            common["404"] = "Resource not found (404): unknown, or of another account."
        for code, description in common.items():
            if code not in responses:
                error = OpenApiResponse(ApiErrorSerializer, description=description)
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return responses


class ApiView(APIView):
    """Base of every `/api/rest/` view: authenticated, JSON in and out, errors in the envelope."""

    authentication_classes = [ApiPasswordAuthentication]
    permission_classes = [IsAuthenticated]
    schema = ApiAutoSchema()
    serializer_class = None  # the schema comes from extend_schema; no guessing (and no warning) without one

    @property
    def account(self):  # the Account model would be a circular import here
        return self.request.user.account

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        for name, values in request.query_params.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise ApiError(422, f"The {name.replace(chr(0), '')} may not contain a NUL character.")


class ApiPasswordAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes ApiPasswordAuthentication in the OpenAPI schema as HTTP Basic."""

    target_class = ApiPasswordAuthentication
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Your username and API password (not the web login password).",
        }


# ---------------------------------------------------------------------------------------------
# OpenAPI description of the envelope (documentation only; responses are built above)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="The spec's error code (102-126, 404, 422...).")
    description = serializers.CharField()


class ApiErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class PaginationLinksSerializer(serializers.Serializer):
    previous = serializers.URLField(required=False)
    next = serializers.URLField(required=False)


class PaginationSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    count = serializers.IntegerField()
    per_page = serializers.IntegerField()
    current_page = serializers.IntegerField()
    total_pages = serializers.IntegerField()
    links = PaginationLinksSerializer()


class PaginationMetaSerializer(serializers.Serializer):
    pagination = PaginationSerializer()
