"""REST API: contacts, groups and blacklists (spec sections "Databases", "Groups", "Blacklist").

Views only parse the request, call a service or selector and present the result; the rules live
in `contacts.services`. The serializers below describe the JSON for the OpenAPI schema only.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import (
    PAGING_PARAMETERS,
    ApiErrorSerializer,
    ApiView,
    BodyReader,
    PaginationMetaSerializer,
    data_response,
    json_object,
    no_content,
    not_found,
    paginated_response,
    parse_int,
    validation_error,
)
from contacts.models import BlacklistType, Contact, Group
from contacts.presenters import (
    CONTACT_INCLUDES,
    INCLUDE_CUSTOM_FIELDS,
    INCLUDE_GROUPS,
    blacklist_entry_added_to_dict,
    blacklist_entry_to_dict,
    contact_to_dict,
    contact_written_to_dict,
    group_to_dict,
)
from contacts.selectors import (
    ContactFilters,
    blacklist_list,
    contact_get,
    contact_list,
    custom_field_types,
    group_get,
    group_list,
)
from contacts.services import (
    CustomFieldInput,
    blacklist_add,
    blacklist_remove,
    contact_create,
    contact_delete,
    contact_update,
    group_create,
    group_delete,
    group_update,
)

# ---------------------------------------------------------------------------------------------
# Request parsing


def _includes(request: Request) -> frozenset[str]:
    raw = request.query_params.get("include") or ""
    includes = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not includes <= CONTACT_INCLUDES:
        raise validation_error("The selected include is invalid.")
    return includes


def _query_text(request: Request, name: str) -> str | None:
    """A filter's value; an empty one (`?email=`) filters nothing, like an absent one."""
    value = request.query_params.get(name)
    return value if value is not None and value.strip() else None


# JSON key -> contact_create / contact_update argument.
_CONTACT_TEXT_FIELDS = (
    ("email", "email"),
    ("phone", "phone"),
    ("landline", "landline"),
    ("countryIso", "country_iso"),
    ("name", "name"),
    ("surname", "surname"),
    ("externalId", "external_id"),
)


def _contact_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """The service arguments for the keys present in the body (absent keys stay unchanged on
    update; `null` clears a text field). Null `groupsIds` / `groupsNames` / `customFields`
    count as absent."""
    reader = BodyReader(data)
    arguments: dict[str, Any] = {}
    for key, argument in _CONTACT_TEXT_FIELDS:
        if key in data:
            arguments[argument] = reader.string(key)
    if data.get("groupsIds") is not None:
        arguments["groups_ids"] = reader.int_list("groupsIds")
    if data.get("groupsNames") is not None:
        arguments["groups_names"] = reader.string_list("groupsNames")
    if data.get("customFields") is not None:
        arguments["custom_fields"] = _custom_field_inputs(reader.array("customFields") or [])
    return arguments


def _custom_field_inputs(items: list) -> list[CustomFieldInput]:
    inputs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise validation_error(f"The customFields.{index} must be an object.")
        key, field_type = item.get("key"), item.get("type")
        if key is not None and not isinstance(key, str):
            raise validation_error(f"The customFields.{index}.key must be a string.")
        if field_type is not None and not isinstance(field_type, str):
            raise validation_error(f"The selected customFields.{index}.type is invalid.")
        inputs.append(CustomFieldInput(key=key or "", value=item.get("value"), type=field_type))
    return inputs


def _contact_self_url(request: Request, contact: Contact) -> str:
    return request.build_absolute_uri(reverse("api-contact-detail", kwargs={"contact_id": contact.id}))


def _blacklist_type(type: str) -> str:
    if type not in BlacklistType.values:
        raise not_found()
    return type


# ---------------------------------------------------------------------------------------------
# OpenAPI description (documentation only; responses are built by contacts.presenters)


class GroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class GroupListSerializer(serializers.Serializer):
    data = GroupSerializer(many=True)
    meta = PaginationMetaSerializer()


class GroupDataSerializer(serializers.Serializer):
    data = GroupSerializer()


class GroupWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, help_text="Name of the group, unique in the account.")


class ContactCustomFieldSerializer(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField(help_text="string, date or decimal.")
    value = serializers.CharField()


class ContactCustomFieldsSerializer(serializers.Serializer):
    data = ContactCustomFieldSerializer(many=True)


class ContactGroupsSerializer(serializers.Serializer):
    data = GroupSerializer(many=True)


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True, help_text="International digits, e.g. 34666666666.")
    countryIso = serializers.CharField(allow_null=True)
    landline = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    surname = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    customFields = ContactCustomFieldsSerializer(required=False, help_text="Only with include=customFields.")
    groups = ContactGroupsSerializer(required=False, help_text="Only with include=groups.")


class ContactListSerializer(serializers.Serializer):
    data = ContactSerializer(many=True)
    meta = PaginationMetaSerializer()


class ContactDataSerializer(serializers.Serializer):
    data = ContactSerializer()


class ContactLinksSerializer(serializers.Serializer):
    self = serializers.URLField()


class ContactWrittenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    countryIso = serializers.CharField(allow_null=True)
    landline = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    surname = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    links = ContactLinksSerializer()


class ContactWrittenDataSerializer(serializers.Serializer):
    data = ContactWrittenSerializer()


class ContactCustomFieldWriteSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Name of the custom field.")
    type = serializers.ChoiceField(
        choices=["string", "date", "decimal"], required=False, help_text="string (default), date (ISO 8601) or decimal."
    )
    value = serializers.CharField()


class ContactWriteSerializer(serializers.Serializer):
    email = serializers.CharField(required=False, allow_null=True, help_text="Required without phone and landline.")
    phone = serializers.CharField(required=False, allow_null=True, help_text="Required without email and landline.")
    landline = serializers.CharField(required=False, allow_null=True, help_text="Required without email and phone.")
    countryIso = serializers.CharField(
        required=False, allow_null=True, help_text="Two-letter ISO code; required with phone or landline."
    )
    groupsIds = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Required (on create) without groupsNames."
    )
    groupsNames = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Required (on create) without groupsIds; missing groups are created.",
    )
    name = serializers.CharField(required=False, allow_null=True)
    surname = serializers.CharField(required=False, allow_null=True)
    externalId = serializers.CharField(required=False, allow_null=True)
    customFields = ContactCustomFieldWriteSerializer(many=True, required=False)


class BlacklistEntrySerializer(serializers.Serializer):
    type = serializers.CharField(help_text="sms, mailing or voice.")
    recipient = serializers.CharField()
    isDefinitive = serializers.BooleanField()
    sendingId = serializers.IntegerField(allow_null=True)
    campaignName = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()


class BlacklistListSerializer(serializers.Serializer):
    data = BlacklistEntrySerializer(many=True)
    meta = PaginationMetaSerializer()


class BlacklistEntryAddedSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="sms, mailing or voice.")
    recipient = serializers.CharField()
    isDefinitive = serializers.BooleanField()
    campaignName = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()


class BlacklistEntryAddedDataSerializer(serializers.Serializer):
    data = BlacklistEntryAddedSerializer()


class BlacklistRecipientSerializer(serializers.Serializer):
    recipient = serializers.CharField(help_text="Email (mailing) or international phone number (sms, voice).")


_ERROR = ApiErrorSerializer
_INVALID = OpenApiResponse(_ERROR, description="Invalid data (error code 422).")
_NOT_FOUND = OpenApiResponse(_ERROR, description="Resource not found (error code 404).")
_BAD_JSON = OpenApiResponse(_ERROR, description="Invalid JSON (error code 125).")
_PAGING = PAGING_PARAMETERS
_INCLUDE = OpenApiParameter(
    "include",
    {"type": "string", "pattern": "^((customFields|groups)(,(customFields|groups))*)?$"},
    description="Comma-separated subresources to include: customFields, groups.",
)
_BLACKLIST_TYPE = OpenApiParameter(
    "type", str, OpenApiParameter.PATH, enum=BlacklistType.values, description="Blacklist type."
)
_CONTACT_EXAMPLE = {
    "email": "new.contact@example.com",
    "phone": "666555444",
    "countryIso": "ES",
    "groupsNames": ["My contact list"],
    "customFields": [{"key": "company", "value": "ACME inc."}],
}

# ---------------------------------------------------------------------------------------------
# Views


class ContactListView(ApiView):
    @extend_schema(
        tags=["Contacts"],
        operation_id="contacts_list",
        summary="List contacts",
        parameters=[
            _INCLUDE,
            *_PAGING,
            OpenApiParameter("email", str, description="Exact email."),
            OpenApiParameter("phone", str, description="Exact phone in international format, e.g. 34666666666."),
            OpenApiParameter("landline", str, description="Exact landline in international format."),
            OpenApiParameter("countryIso", str, description="Two-letter ISO country code."),
            OpenApiParameter("externalId", str, description="Exact external id."),
        ],
        responses={200: ContactListSerializer, 422: _INVALID},
    )
    def get(self, request: Request) -> Response:
        include = _includes(request)
        filters = ContactFilters(
            email=_query_text(request, "email"),
            phone=_query_text(request, "phone"),
            landline=_query_text(request, "landline"),
            country_iso=_query_text(request, "countryIso"),
            external_id=_query_text(request, "externalId"),
        )
        try:
            contacts = contact_list(account=self.account, filters=filters, with_groups=INCLUDE_GROUPS in include)
        except ValidationError:
            # A filter value no contact can have (`?phone=abc`, `?countryIso=XX`) matches nothing: an empty
            # page, like any other filter that matches nothing, not an error.
            contacts = contact_list(account=self.account).none()

        def serialize(page: list[Contact]) -> list[dict]:
            wants_types = INCLUDE_CUSTOM_FIELDS in include and page
            field_types = custom_field_types(account=self.account) if wants_types else {}
            return [contact_to_dict(contact, include=include, field_types=field_types) for contact in page]

        return paginated_response(request, contacts, serialize)

    @extend_schema(
        tags=["Contacts"],
        operation_id="contacts_create",
        summary="Create a contact",
        request=ContactWriteSerializer,
        responses={201: ContactWrittenDataSerializer, 400: _BAD_JSON, 422: _INVALID},
        examples=[OpenApiExample("New contact", value=_CONTACT_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        arguments = _contact_arguments(json_object(request))
        contact = contact_create(account=self.account, **arguments)
        return data_response(contact_written_to_dict(contact, self_url=_contact_self_url(request, contact)), status=201)


class ContactDetailView(ApiView):
    def _contact(self, contact_id: int, *, with_groups: bool = False) -> Contact:
        contact = contact_get(account=self.account, contact_id=contact_id, with_groups=with_groups)
        if contact is None:
            raise not_found()
        return contact

    @extend_schema(
        tags=["Contacts"],
        operation_id="contacts_show",
        summary="Show a contact",
        parameters=[_INCLUDE],
        responses={200: ContactDataSerializer, 404: _NOT_FOUND, 422: _INVALID},
    )
    def get(self, request: Request, contact_id: int) -> Response:
        include = _includes(request)
        contact = self._contact(contact_id, with_groups=INCLUDE_GROUPS in include)
        field_types = custom_field_types(account=self.account) if INCLUDE_CUSTOM_FIELDS in include else {}
        return data_response(contact_to_dict(contact, include=include, field_types=field_types))

    @extend_schema(
        tags=["Contacts"],
        operation_id="contacts_update",
        summary="Update a contact",
        description="Partial update: only the fields sent change; `null` clears a field. groupsIds / "
        "groupsNames replace the contact's groups; customFields sent are set and the others kept.",
        request=ContactWriteSerializer,
        responses={200: ContactWrittenDataSerializer, 400: _BAD_JSON, 404: _NOT_FOUND, 422: _INVALID},
        examples=[OpenApiExample("Change contact", value=_CONTACT_EXAMPLE, request_only=True)],
    )
    def put(self, request: Request, contact_id: int) -> Response:
        contact = self._contact(contact_id)
        arguments = _contact_arguments(json_object(request))
        contact = contact_update(contact=contact, **arguments)
        return data_response(contact_written_to_dict(contact, self_url=_contact_self_url(request, contact)))

    @extend_schema(
        tags=["Contacts"],
        operation_id="contacts_delete",
        summary="Delete a contact",
        responses={204: None, 404: _NOT_FOUND},
    )
    def delete(self, request: Request, contact_id: int) -> Response:
        contact_delete(contact=self._contact(contact_id))
        return no_content()


class GroupListView(ApiView):
    @extend_schema(
        tags=["Groups"],
        operation_id="groups_list",
        summary="List groups",
        parameters=_PAGING,
        responses={200: GroupListSerializer, 422: _INVALID},
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            request, group_list(account=self.account), lambda page: [group_to_dict(group) for group in page]
        )

    @extend_schema(
        tags=["Groups"],
        operation_id="groups_create",
        summary="Create a group",
        request=GroupWriteSerializer,
        responses={201: GroupDataSerializer, 400: _BAD_JSON, 422: _INVALID},
    )
    def post(self, request: Request) -> Response:
        name = BodyReader(json_object(request)).string("name", required=True)
        group = group_create(account=self.account, name=name)
        return data_response(group_to_dict(group), status=201)


class GroupDetailView(ApiView):
    def _group(self, group_id: int) -> Group:
        group = group_get(account=self.account, group_id=group_id)
        if group is None:
            raise not_found()
        return group

    @extend_schema(
        tags=["Groups"],
        operation_id="groups_show",
        summary="Show a group",
        responses={200: GroupDataSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, group_id: int) -> Response:
        return data_response(group_to_dict(self._group(group_id)))

    @extend_schema(
        tags=["Groups"],
        operation_id="groups_update",
        summary="Rename a group",
        request=GroupWriteSerializer,
        responses={200: GroupDataSerializer, 400: _BAD_JSON, 404: _NOT_FOUND, 422: _INVALID},
    )
    def put(self, request: Request, group_id: int) -> Response:
        group = self._group(group_id)
        name = BodyReader(json_object(request)).string("name", required=True)
        return data_response(group_to_dict(group_update(group=group, name=name)))

    @extend_schema(
        tags=["Groups"],
        operation_id="groups_delete",
        summary="Delete a group",
        description="The group's contacts are kept.",
        responses={204: None, 404: _NOT_FOUND},
    )
    def delete(self, request: Request, group_id: int) -> Response:
        group_delete(group=self._group(group_id))
        return no_content()


class BlacklistView(ApiView):
    @extend_schema(
        tags=["Blacklist"],
        operation_id="blacklist_list",
        summary="List a blacklist",
        parameters=[
            _BLACKLIST_TYPE,
            *_PAGING,
            OpenApiParameter("recipient", str, description="Exact recipient, e.g. test@example.com."),
            OpenApiParameter("sendingId", int, description="Entries added by this sending."),
        ],
        responses={200: BlacklistListSerializer, 404: _NOT_FOUND, 422: _INVALID},
    )
    def get(self, request: Request, type: str) -> Response:
        type = _blacklist_type(type)
        sending_id = None
        raw_sending_id = _query_text(request, "sendingId")
        if raw_sending_id is not None:
            sending_id = parse_int(raw_sending_id)
            if sending_id is None:
                raise validation_error("The sendingId must be an integer.")
        try:
            entries = blacklist_list(
                account=self.account, type=type, recipient=_query_text(request, "recipient"), sending_id=sending_id
            )
        except ValidationError:
            # A recipient that cannot be on this list (a phone number on the mailing list, an email on the SMS
            # list) matches no entry: an empty page, like any other filter that matches nothing.
            entries = blacklist_list(account=self.account, type=type).none()
        return paginated_response(request, entries, lambda page: [blacklist_entry_to_dict(entry) for entry in page])

    @extend_schema(
        tags=["Blacklist"],
        operation_id="blacklist_add",
        summary="Add a recipient to a blacklist",
        description="Adding a recipient already listed answers its existing entry.",
        parameters=[_BLACKLIST_TYPE],
        request=BlacklistRecipientSerializer,
        responses={200: BlacklistEntryAddedDataSerializer, 400: _BAD_JSON, 404: _NOT_FOUND, 422: _INVALID},
        examples=[OpenApiExample("Phone number", value={"recipient": "99000000000"}, request_only=True)],
    )
    def put(self, request: Request, type: str) -> Response:
        type = _blacklist_type(type)
        recipient = json_object(request).get("recipient")
        entry = blacklist_add(account=self.account, type=type, recipient=recipient)
        return data_response(blacklist_entry_added_to_dict(entry))

    @extend_schema(
        tags=["Blacklist"],
        operation_id="blacklist_remove",
        summary="Remove a recipient from a blacklist",
        parameters=[_BLACKLIST_TYPE],
        request=BlacklistRecipientSerializer,
        responses={204: None, 400: _BAD_JSON, 404: _NOT_FOUND, 422: _INVALID},
    )
    def delete(self, request: Request, type: str) -> Response:
        type = _blacklist_type(type)
        recipient = json_object(request).get("recipient")
        if not blacklist_remove(account=self.account, type=type, recipient=recipient):
            raise not_found()
        return no_content()


urlpatterns = [
    path("contacts", ContactListView.as_view(), name="api-contact-list"),
    path("contacts/<int:contact_id>", ContactDetailView.as_view(), name="api-contact-detail"),
    path("groups", GroupListView.as_view(), name="api-group-list"),
    path("groups/<int:group_id>", GroupDetailView.as_view(), name="api-group-detail"),
    path("v2/blacklist/<str:type>", BlacklistView.as_view(), name="api-blacklist"),
]
