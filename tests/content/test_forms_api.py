"""/api/rest/forms: CRUD and preview with every annex element, editable / rejectButton /
backgroundUrl / logoUrl, names unique per account, and bad input that changes nothing."""

import copy

import pytest

from contacts.models import CustomField
from content.form_fields import ELEMENT_TYPES
from content.models import Form
from tests.content.conftest import ALL_ELEMENTS

pytestmark = pytest.mark.django_db

HOST = "http://testserver"
SPEC_SAMPLE = {
    "name": "My_form",
    "rejectButton": True,
    "backgroundUrl": "https://dashboard.example.com/assets/login/img/wizard.jpg",
    "logoUrl": "https://dashboard.example.com/assets/img/logo.png",
    "formFields": [
        {"type": "h3", "label": "Your opinion is very important to us"},
        {"type": "text", "label": "Name", "required": True, "description": "Insert your name",
         "placeholder": "Insert your name", "customField": "form_name"},
    ],
}  # fmt: skip


def post_form(client, **changes):
    body = {**copy.deepcopy(SPEC_SAMPLE), **changes}
    return client.post("/api/rest/forms", body, format="json")


def test_the_spec_sample_is_created_with_placeholder_and_links(api_client, account):
    response = post_form(api_client)

    assert response.status_code == 201
    form = Form.objects.get(account=account)
    data = response.json()["data"]
    assert data == {
        "id": form.pk,
        "name": "My_form",
        "placeholder": f"{{FORM_{form.pk}}}",
        "createdAt": data["createdAt"],
        "updatedAt": data["updatedAt"],
        "links": {
            "self": f"{HOST}/api/rest/forms/{form.pk}",
            "preview": f"{HOST}/api/rest/forms/{form.pk}/preview",
        },
    }
    assert (form.reject_button, form.editable) == (True, True)  # editable is true by default
    assert form.background_url == SPEC_SAMPLE["backgroundUrl"]
    assert form.logo_url == SPEC_SAMPLE["logoUrl"]
    assert form.fields[1] == {
        "type": "text", "label": "Name", "required": True, "description": "Insert your name",
        "placeholder": "Insert your name", "customField": "form_name",
    }  # fmt: skip


def test_every_annex_element_is_accepted_and_kept_in_order(api_client, account):
    response = post_form(api_client, formFields=ALL_ELEMENTS, editable=False)

    assert response.status_code == 201
    form = Form.objects.get(account=account)
    assert [field["type"] for field in form.fields] == list(ELEMENT_TYPES)
    assert form.editable is False
    textarea = next(field for field in form.fields if field["type"] == "textarea")
    assert textarea["rows"] == 4
    radio = next(field for field in form.fields if field["type"] == "radio")
    assert radio["options"][0] == {"label": "Very satisfied", "value": "10"}


def test_list_and_show_have_the_spec_shape(api_client):
    form_id = post_form(api_client).json()["data"]["id"]

    listed = api_client.get("/api/rest/forms").json()
    shown = api_client.get(f"/api/rest/forms/{form_id}").json()

    assert set(listed["data"][0]) == {"id", "name", "placeholder", "createdAt", "updatedAt"}
    assert listed["meta"]["pagination"]["total"] == 1
    assert shown["data"]["placeholder"] == f"{{FORM_{form_id}}}"


def test_update_replaces_the_definition(api_client):
    form_id = post_form(api_client).json()["data"]["id"]

    response = api_client.put(
        f"/api/rest/forms/{form_id}",
        {"name": "Renamed", "editable": False, "formFields": [{"type": "email", "label": "Mail", "customField": "m"}]},
        format="json",
    )

    assert response.status_code == 200
    form = Form.objects.get(pk=form_id)
    assert (form.name, form.editable, form.reject_button, form.logo_url) == ("Renamed", False, False, "")
    assert form.fields == [{"type": "email", "label": "Mail", "required": False, "description": "",
                            "placeholder": "", "customField": "m"}]  # fmt: skip


def test_delete_answers_204(api_client):
    form_id = post_form(api_client).json()["data"]["id"]

    assert api_client.delete(f"/api/rest/forms/{form_id}").status_code == 204
    assert api_client.get(f"/api/rest/forms/{form_id}").status_code == 404


def test_preview_renders_every_element_sandboxed(api_client):
    form_id = post_form(api_client, formFields=ALL_ELEMENTS).json()["data"]["id"]

    response = api_client.get(f"/api/rest/forms/{form_id}/preview")

    assert response.status_code == 200
    assert response["Content-Security-Policy"].startswith("sandbox;")
    html = response.content.decode()
    for marker in (
        "<h1>Title</h1>", "<h2>Subtitle</h2>", "<h3>Your opinion", "<h4>Small title</h4>",
        "<p>This is my paragraph</p>",
        "<blockquote>My blockquote</blockquote>", 'type="text"', 'type="password"', 'type="email"',
        'type="number"', "<textarea", 'rows="4"', 'type="date"', 'type="color"', '<option value="ES">Spain</option>',
        '<option value="pro">Pro</option>', 'type="radio"', 'type="checkbox"', "Reject", "Insert your name",
        'src="https://dashboard.example.com/assets/img/logo.png"',
        'src="https://dashboard.example.com/assets/login/img/wizard.jpg"',
    ):  # fmt: skip
        assert marker in html, marker
    assert "disabled" in html  # a preview cannot be submitted
    assert "<script" not in html


def test_names_are_unique_per_account(api_client, other_client, account):
    assert post_form(api_client).status_code == 201

    duplicate = post_form(api_client)

    assert duplicate.status_code == 422
    assert duplicate.json()["error"]["description"] == "The name has already been taken."
    assert Form.objects.filter(account=account).count() == 1
    assert post_form(other_client).status_code == 201  # another account may use the name


def test_renaming_onto_another_forms_name_is_refused(api_client):
    post_form(api_client, name="First")
    second = post_form(api_client, name="Second").json()["data"]["id"]

    response = api_client.put(f"/api/rest/forms/{second}", {**SPEC_SAMPLE, "name": "First"}, format="json")

    assert response.status_code == 422
    assert Form.objects.get(pk=second).name == "Second"


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"name": ""}, "The name field is required."),
        ({"formFields": None}, "The formFields field is required."),
        ({"formFields": []}, "The formFields must have at least 1 item."),
        ({"formFields": [{"type": "slider", "label": "x", "customField": "x"}]},
         "The selected formFields.0.type is invalid."),
        ({"formFields": [{"type": "text", "customField": "x"}]}, "The formFields.0.label field is required."),
        ({"formFields": [{"type": "text", "label": "x"}]}, "The formFields.0.customField field is required."),
        ({"formFields": [{"type": "text", "label": "x", "customField": "bad key!"}]},
         "The formFields.0.customField may only contain letters, digits, _ . - (at most 64 characters)."),
        ({"formFields": [{"type": "text", "label": "a", "customField": "k"}, {"type": "email", "label": "b",
          "customField": "k"}]}, "The formFields.1.customField is used twice in the form."),
        ({"formFields": [{"type": "select", "label": "x", "customField": "x"}]},
         "The formFields.0.options must be an array with at least one option."),
        ({"formFields": [{"type": "radio", "label": "x", "customField": "x", "options": [{"label": "a"}]}]},
         "The formFields.0.options.0.value field is required."),
        ({"formFields": [{"type": "textarea", "label": "x", "customField": "x", "rows": 0}]},
         "The formFields.0.rows must be an integer between 1 and 50."),
        ({"formFields": [{"type": "text", "label": "x", "customField": "x", "required": "yes"}]},
         "The formFields.0.required field must be true or false."),
        ({"logoUrl": "javascript:alert(1)"}, "The logoUrl must be an http or https URL."),
        ({"backgroundUrl": "not a url"}, "The backgroundUrl must be an http or https URL."),
        ({"editable": "maybe"}, "The editable field must be true or false."),
        ({"name": "My\x00form"}, "The name may not contain a NUL character."),
        ({"formFields": [{"type": "h1", "label": "x\x00"}]}, "The formFields.0.label may not contain a NUL character."),
        ({"formFields": [{"type": "radio", "label": "x", "customField": "x", "options": [{"label": "a\x00",
          "value": "a"}]}]}, "The formFields.0.options.0.label may not contain a NUL character."),
        ({"logoUrl": "https://example.com/\x00.png"}, "The logoUrl may not contain a NUL character."),
    ],
)  # fmt: skip
def test_invalid_definitions_are_422_and_write_nothing(api_client, account, changes, description):
    response = post_form(api_client, **changes)

    assert response.status_code == 422
    assert response.json() == {"error": {"code": 422, "description": description}}
    assert not Form.objects.filter(account=account).exists()


def test_a_custom_field_of_an_incompatible_type_is_refused(api_client, account):
    CustomField.objects.create(account=account, key="age", type="decimal")

    response = post_form(api_client, formFields=[{"type": "text", "label": "Age", "customField": "age"}])

    assert response.status_code == 422
    assert "age is a decimal custom field" in response.json()["error"]["description"]


def test_another_accounts_form_is_404_for_every_verb(api_client, other_client):
    form_id = post_form(other_client).json()["data"]["id"]
    url = f"/api/rest/forms/{form_id}"

    assert api_client.get(url).status_code == 404
    assert api_client.get(f"{url}/preview").status_code == 404
    assert api_client.put(url, SPEC_SAMPLE, format="json").status_code == 404
    assert api_client.delete(url).status_code == 404
    assert Form.objects.filter(pk=form_id).exists()


def test_forms_need_authentication(client):
    response = client.get("/api/rest/forms")

    assert response.status_code == 401
