"""REST API: email validation jobs (spec sections "Validation list" to "Delete a validation").

Views only parse the request, call a service or selector and present the result; the rules live in
`validation.services` and the checks in `validation.checks`. The serializers below describe the JSON
for the OpenAPI schema only.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import (
    PAGING_PARAMETERS,
    ApiError,
    ApiErrorSerializer,
    ApiView,
    BodyReader,
    PaginationMetaSerializer,
    data_response,
    json_object,
    no_content,
    not_found,
    paginated_response,
)
from validation.models import EmailValidation, ValidationStatus
from validation.presenters import email_validation_to_dict, results_csv
from validation.selectors import email_validation_get, email_validation_list, email_validation_result_rows
from validation.services import EmailValidationRefused, email_validation_create, email_validation_delete

# ---------------------------------------------------------------------------------------------
# OpenAPI description (documentation only; responses are built by validation.presenters)


class EmailValidationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="pending, started, finished or failed.")
    total = serializers.IntegerField(help_text="Distinct addresses in the job.")
    processed = serializers.IntegerField(help_text="Addresses with a result so far.")
    valid = serializers.IntegerField(help_text="Deliverable addresses so far.")
    estimatedCost = serializers.FloatField(help_text="total x the price per address.")
    cost = serializers.FloatField(
        help_text="0 while pending, the amount held while started, the final cost once finished (addresses "
        "answered from earlier results are free), 0 when failed."
    )
    currency = serializers.CharField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    finishedAt = serializers.DateTimeField(allow_null=True)
    resultUrl = serializers.URLField(allow_null=True, help_text="Only once finished.")


class EmailValidationListSerializer(serializers.Serializer):
    data = EmailValidationSerializer(many=True)
    meta = PaginationMetaSerializer()


class EmailValidationDataSerializer(serializers.Serializer):
    data = EmailValidationSerializer()


class EmailValidationCreateSerializer(serializers.Serializer):
    groupsIds = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Groups whose contacts' emails are validated."
    )
    emails = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Emails to validate (up to 100000)."
    )
    force = serializers.BooleanField(
        required=False, default=False, help_text="Check again emails that have already been verified."
    )
    allowRisky = serializers.BooleanField(
        required=False, default=False, help_text="When false, risky emails are added to the mailing blacklist."
    )
    notificationUrl = serializers.URLField(
        required=False, help_text="Receives a JSON POST when the validation starts and when it finishes or fails."
    )


_ERROR = ApiErrorSerializer
_INVALID = OpenApiResponse(_ERROR, description="Invalid data (error code 422).")
_NOT_FOUND = OpenApiResponse(_ERROR, description="Resource not found (error code 404).")
_PAGING = PAGING_PARAMETERS
_TAGS = ["Validation"]


@contextmanager
def _refusals() -> Iterator[None]:
    """A service's EmailValidationRefused leaves as the spec's error envelope."""
    try:
        yield
    except EmailValidationRefused as exc:
        raise ApiError(exc.code, exc.description) from exc


# ---------------------------------------------------------------------------------------------
# Views


class EmailValidationListView(ApiView):
    @extend_schema(
        tags=_TAGS,
        operation_id="email_validations_list",
        summary="Validation list",
        description="The account's email validations, oldest first.",
        parameters=_PAGING,
        responses={200: EmailValidationListSerializer, 422: _INVALID},
    )
    def get(self, request: Request) -> Response:
        absolute_url = request.build_absolute_uri

        def serialize(page: list[EmailValidation]) -> list[dict]:
            return [email_validation_to_dict(validation, absolute_url=absolute_url) for validation in page]

        return paginated_response(request, email_validation_list(account=self.account), serialize)

    @extend_schema(
        tags=_TAGS,
        operation_id="email_validations_create",
        summary="Validate emails",
        description="Queues a validation of the given emails and/or the emails of the given groups' contacts. "
        "Each address ends deliverable, undeliverable or risky.",
        # Explicit media type: the API reads JSON itself (config.api.json_object), not via DRF parsers.
        request={"application/json": EmailValidationCreateSerializer},
        responses={
            201: EmailValidationDataSerializer,
            400: OpenApiResponse(_ERROR, description="125 Invalid JSON, 109 Notification URL incorrect."),
            402: OpenApiResponse(_ERROR, description="111 Not enough credits for the estimated cost."),
            422: _INVALID,
        },
        examples=[
            OpenApiExample(
                "Groups",
                value={"groupsIds": [1111], "force": False, "notificationUrl": "https://example.com/notificationUrl"},
                request_only=True,
            ),
            OpenApiExample("Emails", value={"emails": ["valid@example.com"], "allowRisky": True}, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        reader = BodyReader(json_object(request))
        group_ids = reader.int_list("groupsIds")
        emails = reader.array("emails")
        force = reader.boolean("force", default=False)
        allow_risky = reader.boolean("allowRisky", default=False)
        with _refusals():
            validation = email_validation_create(
                account=self.account,
                emails=emails,
                group_ids=group_ids,
                force=bool(force),
                allow_risky=bool(allow_risky),
                notification_url=reader.data.get("notificationUrl"),
            )
        return data_response(email_validation_to_dict(validation, absolute_url=request.build_absolute_uri), status=201)


class EmailValidationDetailView(ApiView):
    def _validation(self, validation_id: int) -> EmailValidation:
        validation = email_validation_get(account=self.account, validation_id=validation_id)
        if validation is None:
            raise not_found()
        return validation

    @extend_schema(
        tags=_TAGS,
        operation_id="email_validations_show",
        summary="Show a validation",
        description="One validation with its progress and cost.",
        responses={200: EmailValidationDataSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, validation_id: int) -> Response:
        validation = self._validation(validation_id)
        return data_response(email_validation_to_dict(validation, absolute_url=request.build_absolute_uri))

    @extend_schema(
        tags=_TAGS,
        operation_id="email_validations_delete",
        summary="Delete a validation",
        description="A running validation stops and the amount it held goes back to the balance.",
        responses={204: None, 404: _NOT_FOUND},
    )
    def delete(self, request: Request, validation_id: int) -> Response:
        email_validation_delete(validation=self._validation(validation_id))
        return no_content()


class EmailValidationResultView(ApiView):
    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The body is CSV whatever the client accepts (`Accept: text/csv` must not be a 406);
        # errors still leave as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        tags=_TAGS,
        operation_id="email_validations_result",
        summary="Validation results (CSV)",
        description="text/csv `email;result`, one line per address in the order given; result is deliverable, "
        "undeliverable or risky. Only once the validation has finished (404 before).",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The results."), 404: _NOT_FOUND},
    )
    def get(self, request: Request, validation_id: int) -> StreamingHttpResponse:
        validation = email_validation_get(account=self.account, validation_id=validation_id)
        if validation is None:
            raise not_found()
        if validation.status != ValidationStatus.FINISHED:
            raise ApiError(404, "Resource not found: the validation has not finished.")
        response = StreamingHttpResponse(
            results_csv(email_validation_result_rows(validation=validation)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="email-validation-{validation.pk}.csv"'
        return response


urlpatterns = [
    path("validation/emails", EmailValidationListView.as_view(), name="api-email-validation-list"),
    path(
        "validation/emails/<int:validation_id>",
        EmailValidationDetailView.as_view(),
        name="api-email-validation-detail",
    ),
    path(
        "validation/emails/<int:validation_id>/result",
        EmailValidationResultView.as_view(),
        name="api-email-validation-result",
    ),
]
