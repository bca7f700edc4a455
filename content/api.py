"""REST API: templates v1 and v2 and forms (spec sections "Templates and files", "Templates V2",
"Forms"). Views parse the request, call content.services / content.selectors and present the
result with content.presenters. Previews answer sandboxed HTML (content.previews)."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import (
    PAGING_PARAMETERS,
    ApiErrorSerializer,
    ApiView,
    PaginationMetaSerializer,
    data_response,
    json_object,
    no_content,
    not_found,
    paginated_response,
    validation_error,
)
from content.form_fields import ELEMENT_TYPES
from content.form_page import form_page_html
from content.models import Form, Template, TemplateVersion
from content.presenters import form_to_dict, template_v1_to_dict, template_v2_to_dict, with_links
from content.previews import sandboxed_html_response
from content.selectors import form_get, form_list, template_get, template_list
from content.services import form_create, form_delete, form_update, template_create, template_delete, template_update

# ---------------------------------------------------------------------------------------------
# OpenAPI description (documentation only)


class TemplateLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    preview = serializers.URLField()


class TemplateV1Serializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    html = serializers.CharField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField(allow_null=True)


class TemplateV1WrittenSerializer(TemplateV1Serializer):
    links = TemplateLinksSerializer()


class TemplateV2ListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField(help_text="HTML.")
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField(allow_null=True)


class TemplateV2Serializer(TemplateV2ListItemSerializer):
    html = serializers.CharField()


class TemplateV2WrittenSerializer(TemplateV2Serializer):
    links = TemplateLinksSerializer()


def _envelope(name: str, item: type[serializers.Serializer], *, many: bool = False) -> type[serializers.Serializer]:
    fields: dict[str, Any] = {"data": item(many=many)}
    if many:
        fields["meta"] = PaginationMetaSerializer()
    return type(name, (serializers.Serializer,), fields)


class TemplateWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, help_text="Template name.")
    html = serializers.CharField(help_text="Content of the template in HTML format and UTF-8 coding.")


class TemplateV2WriteSerializer(TemplateWriteSerializer):
    type = serializers.ChoiceField(choices=["HTML"], required=False, help_text="HTML (the default and only type).")


class FormSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    placeholder = serializers.CharField(help_text="{FORM_<id>}: put it in an SMS, or [form_<id>] in an email.")
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField(allow_null=True)


class FormWrittenSerializer(FormSerializer):
    links = TemplateLinksSerializer()


class FormOptionSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.CharField()


class FormFieldSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(ELEMENT_TYPES))
    label = serializers.CharField()
    required = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False)
    placeholder = serializers.CharField(required=False)
    customField = serializers.CharField(required=False, help_text="Required for every input element.")
    rows = serializers.IntegerField(required=False, help_text="textarea only, 1-50 (default 3).")
    options = FormOptionSerializer(many=True, required=False, help_text="select and radio only.")


class FormWriteSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Unique name of the form.")
    editable = serializers.BooleanField(required=False, default=True)
    rejectButton = serializers.BooleanField(required=False, default=False)
    backgroundUrl = serializers.URLField(required=False)
    logoUrl = serializers.URLField(required=False)
    formFields = FormFieldSerializer(many=True)


_ERROR = ApiErrorSerializer
_INVALID = OpenApiResponse(_ERROR, description="Invalid data (error code 422).")
_NOT_FOUND = OpenApiResponse(_ERROR, description="Resource not found (error code 404).")
_BAD_JSON = OpenApiResponse(_ERROR, description="Invalid JSON (error code 125).")
_HTML = OpenApiResponse(
    OpenApiTypes.STR,
    description="The HTML preview, served with `Content-Security-Policy: sandbox; default-src 'none'; ...`.",
)
_PAGING = PAGING_PARAMETERS
_FORM_EXAMPLE = {
    "name": "My_form",
    "rejectButton": True,
    "formFields": [
        {"type": "h3", "label": "Your opinion is very important to us"},
        {"type": "text", "label": "Name", "required": True, "customField": "form_name"},
    ],
}

# ---------------------------------------------------------------------------------------------
# Templates


class _TemplateApi(ApiView):
    version: int = TemplateVersion.V2
    route: str = "api-template-v2"

    def _template(self, template_id: int) -> Template:
        template = template_get(account=self.account, version=self.version, template_id=template_id)
        if template is None:
            raise not_found()
        return template

    def _present(self, template: Template, *, with_html: bool = True) -> dict[str, Any]:
        if self.version == TemplateVersion.V1:
            return template_v1_to_dict(template)
        return template_v2_to_dict(template, with_html=with_html)

    def _written(self, request: Request, template: Template) -> dict[str, Any]:
        kwargs = {"template_id": template.pk}
        return with_links(
            self._present(template),
            self_url=request.build_absolute_uri(reverse(f"{self.route}-detail", kwargs=kwargs)),
            preview_url=request.build_absolute_uri(reverse(f"{self.route}-preview", kwargs=kwargs)),
        )

    def _write(self, request: Request, write: Callable[..., Template], **arguments: Any) -> Template:
        data = json_object(request)
        extra = {"type": data.get("type")} if self.version == TemplateVersion.V2 else {}
        try:
            return write(name=data.get("name"), html=data.get("html"), **extra, **arguments)
        except ValidationError as exc:
            raise validation_error(exc.messages[0]) from exc

    def list(self, request: Request) -> Response:
        templates = template_list(account=self.account, version=self.version)
        return paginated_response(request, templates, lambda page: [self._present(t, with_html=False) for t in page])

    def create(self, request: Request) -> Response:
        template = self._write(request, template_create, account=self.account, version=self.version)
        return data_response(self._written(request, template), status=201)

    def show(self, template_id: int) -> Response:
        return data_response(self._present(self._template(template_id)))

    def update(self, request: Request, template_id: int) -> Response:
        template = self._write(request, template_update, template=self._template(template_id))
        return data_response(self._written(request, template), status=201)  # the spec answers 201

    def destroy(self, template_id: int) -> Response:
        template_delete(template=self._template(template_id))
        return no_content()

    def preview(self, template_id: int) -> HttpResponse:
        return sandboxed_html_response(self._template(template_id).html)


class TemplateV1ListView(_TemplateApi):
    version, route = TemplateVersion.V1, "api-template-v1"

    @extend_schema(
        tags=["Templates"], operation_id="templates_v1_list", summary="List templates (legacy)", parameters=_PAGING,
        responses={200: _envelope("TemplateV1ListResponse", TemplateV1Serializer, many=True), 422: _INVALID},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        tags=["Templates"], operation_id="templates_v1_create", summary="Create a template (legacy)",
        request=TemplateWriteSerializer,
        responses={201: _envelope("TemplateV1Created", TemplateV1WrittenSerializer), 400: _BAD_JSON, 422: _INVALID},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        return self.create(request)


class TemplateV1DetailView(_TemplateApi):
    version, route = TemplateVersion.V1, "api-template-v1"

    @extend_schema(
        tags=["Templates"], operation_id="templates_v1_show", summary="Show a template (legacy)",
        responses={200: _envelope("TemplateV1DataResponse", TemplateV1Serializer), 404: _NOT_FOUND},
    )  # fmt: skip
    def get(self, request: Request, template_id: int) -> Response:
        return self.show(template_id)

    @extend_schema(
        tags=["Templates"], operation_id="templates_v1_update", summary="Update a template (legacy)",
        request=TemplateWriteSerializer,
        responses={
            201: _envelope("TemplateV1UpdatedResponse", TemplateV1WrittenSerializer), 400: _BAD_JSON, 404: _NOT_FOUND,
            422: _INVALID,
        },
    )  # fmt: skip
    def put(self, request: Request, template_id: int) -> Response:
        return self.update(request, template_id)

    @extend_schema(
        tags=["Templates"], operation_id="templates_v1_delete", summary="Delete a template (legacy)",
        responses={204: None, 404: _NOT_FOUND},
    )  # fmt: skip
    def delete(self, request: Request, template_id: int) -> Response:
        return self.destroy(template_id)


class TemplateV1PreviewView(_TemplateApi):
    version, route = TemplateVersion.V1, "api-template-v1"

    @extend_schema(
        tags=["Templates"], operation_id="templates_v1_preview", summary="Preview a template (legacy)",
        responses={(200, "text/html"): _HTML, 404: _NOT_FOUND},
    )  # fmt: skip
    def get(self, request: Request, template_id: int) -> HttpResponse:
        return self.preview(template_id)


class TemplateV2ListView(_TemplateApi):
    @extend_schema(
        tags=["Templates V2"], operation_id="templates_v2_list", summary="List templates", parameters=_PAGING,
        responses={200: _envelope("TemplateV2ListResponse", TemplateV2ListItemSerializer, many=True), 422: _INVALID},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        tags=["Templates V2"], operation_id="templates_v2_create", summary="Create a template",
        request=TemplateV2WriteSerializer,
        responses={201: _envelope("TemplateV2Created", TemplateV2WrittenSerializer), 400: _BAD_JSON, 422: _INVALID},
        examples=[OpenApiExample("Template", value={"name": "New Template", "html": "<h1>Hello {name}</h1>"})],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        return self.create(request)


class TemplateV2DetailView(_TemplateApi):
    @extend_schema(
        tags=["Templates V2"], operation_id="templates_v2_show", summary="Show a template",
        responses={200: _envelope("TemplateV2DataResponse", TemplateV2Serializer), 404: _NOT_FOUND},
    )  # fmt: skip
    def get(self, request: Request, template_id: int) -> Response:
        return self.show(template_id)

    @extend_schema(
        tags=["Templates V2"], operation_id="templates_v2_update", summary="Update a template",
        request=TemplateV2WriteSerializer,
        responses={
            201: _envelope("TemplateV2UpdatedResponse", TemplateV2WrittenSerializer), 400: _BAD_JSON, 404: _NOT_FOUND,
            422: _INVALID,
        },
    )  # fmt: skip
    def put(self, request: Request, template_id: int) -> Response:
        return self.update(request, template_id)

    @extend_schema(
        tags=["Templates V2"], operation_id="templates_v2_delete", summary="Delete a template",
        responses={204: None, 404: _NOT_FOUND},
    )  # fmt: skip
    def delete(self, request: Request, template_id: int) -> Response:
        return self.destroy(template_id)


class TemplateV2PreviewView(_TemplateApi):
    @extend_schema(
        tags=["Templates V2"], operation_id="templates_v2_preview", summary="Preview a template",
        responses={(200, "text/html"): _HTML, 404: _NOT_FOUND},
    )  # fmt: skip
    def get(self, request: Request, template_id: int) -> HttpResponse:
        return self.preview(template_id)


# ---------------------------------------------------------------------------------------------
# Forms


def _form_arguments(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": data.get("name"),
        "form_fields": data.get("formFields"),
        "editable": data.get("editable"),
        "reject_button": data.get("rejectButton"),
        "background_url": data.get("backgroundUrl"),
        "logo_url": data.get("logoUrl"),
    }


def _form_written(request: Request, form: Form) -> dict[str, Any]:
    kwargs = {"form_id": form.pk}
    return with_links(
        form_to_dict(form),
        self_url=request.build_absolute_uri(reverse("api-form-detail", kwargs=kwargs)),
        preview_url=request.build_absolute_uri(reverse("api-form-preview", kwargs=kwargs)),
    )


class _FormApi(ApiView):
    def _form(self, form_id: int) -> Form:
        form = form_get(account=self.account, form_id=form_id)
        if form is None:
            raise not_found()
        return form


class FormListView(_FormApi):
    @extend_schema(
        tags=["Forms"], operation_id="forms_list", summary="List forms", parameters=_PAGING,
        responses={200: _envelope("FormListResponse", FormSerializer, many=True), 422: _INVALID},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return paginated_response(request, form_list(account=self.account), lambda page: map(form_to_dict, page))

    @extend_schema(
        tags=["Forms"], operation_id="forms_create", summary="Create a form",
        description="Every element of the annex; `customField` names the contact custom field a "
        "submitted value is written to (number and checkbox: decimal, date: date, others: string).",
        request=FormWriteSerializer,
        responses={201: _envelope("FormWrittenResponse", FormWrittenSerializer), 400: _BAD_JSON, 422: _INVALID},
        examples=[OpenApiExample("Form", value=_FORM_EXAMPLE, request_only=True)],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        arguments = _form_arguments(json_object(request))
        try:
            form = form_create(account=self.account, **arguments)
        except ValidationError as exc:
            raise validation_error(exc.messages[0]) from exc
        return data_response(_form_written(request, form), status=201)


class FormDetailView(_FormApi):
    @extend_schema(
        tags=["Forms"], operation_id="forms_show", summary="Show a form",
        responses={200: _envelope("FormDataResponse", FormSerializer), 404: _NOT_FOUND},
    )  # fmt: skip
    def get(self, request: Request, form_id: int) -> Response:
        return data_response(form_to_dict(self._form(form_id)))

    @extend_schema(
        tags=["Forms"], operation_id="forms_update", summary="Update a form",
        description="Replaces the whole definition: name and formFields are required.",
        request=FormWriteSerializer,
        responses={200: _envelope("FormUpdatedResponse", FormWrittenSerializer), 400: _BAD_JSON, 404: _NOT_FOUND,
                   422: _INVALID},
        examples=[OpenApiExample("Form", value=_FORM_EXAMPLE, request_only=True)],
    )  # fmt: skip
    def put(self, request: Request, form_id: int) -> Response:
        form = self._form(form_id)
        arguments = _form_arguments(json_object(request))
        try:
            form = form_update(form=form, **arguments)
        except ValidationError as exc:
            raise validation_error(exc.messages[0]) from exc
        return data_response(_form_written(request, form))

    @extend_schema(
        tags=["Forms"], operation_id="forms_delete", summary="Delete a form",
        responses={204: None, 404: _NOT_FOUND},
    )  # fmt: skip
    def delete(self, request: Request, form_id: int) -> Response:
        form_delete(form=self._form(form_id))
        return no_content()


class FormPreviewView(_FormApi):
    @extend_schema(
        tags=["Forms"], operation_id="forms_preview", summary="Preview a form",
        responses={(200, "text/html"): _HTML, 404: _NOT_FOUND},
    )  # fmt: skip
    def get(self, request: Request, form_id: int) -> HttpResponse:
        return sandboxed_html_response(form_page_html(None, self._form(form_id), preview=True))


urlpatterns = [
    path("templates", TemplateV1ListView.as_view(), name="api-template-v1-list"),
    path("templates/<int:template_id>", TemplateV1DetailView.as_view(), name="api-template-v1-detail"),
    path("templates/<int:template_id>/preview", TemplateV1PreviewView.as_view(), name="api-template-v1-preview"),
    path("v2/templates", TemplateV2ListView.as_view(), name="api-template-v2-list"),
    path("v2/templates/<int:template_id>", TemplateV2DetailView.as_view(), name="api-template-v2-detail"),
    path("v2/templates/<int:template_id>/preview", TemplateV2PreviewView.as_view(), name="api-template-v2-preview"),
    path("forms", FormListView.as_view(), name="api-form-list"),
    path("forms/<int:form_id>", FormDetailView.as_view(), name="api-form-detail"),
    path("forms/<int:form_id>/preview", FormPreviewView.as_view(), name="api-form-preview"),
]
