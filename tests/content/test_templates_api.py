"""/api/rest/templates (v1) and /api/rest/v2/templates: list, show, create, update, delete and
preview with the spec's shapes; bad input and other accounts' ids change nothing."""

import pytest

from content.models import Template, TemplateVersion

pytestmark = pytest.mark.django_db

HOST = "http://testserver"


def create(client, version: str, **body):
    prefix = "/api/rest/v2/templates" if version == "v2" else "/api/rest/templates"
    return client.post(prefix, body or {"name": "New Template", "html": "<h1>Hello world</h1>"}, format="json")


def test_v2_create_answers_201_with_type_and_links(api_client, account):
    response = create(api_client, "v2")

    assert response.status_code == 201
    data = response.json()["data"]
    template = Template.objects.get(account=account)
    assert data == {
        "id": template.pk,
        "name": "New Template",
        "type": "HTML",
        "html": "<h1>Hello world</h1>",
        "createdAt": data["createdAt"],
        "updatedAt": data["updatedAt"],
        "links": {
            "self": f"{HOST}/api/rest/v2/templates/{template.pk}",
            "preview": f"{HOST}/api/rest/v2/templates/{template.pk}/preview",
        },
    }
    assert data["createdAt"].endswith("+00:00")
    assert template.version == TemplateVersion.V2


def test_v1_create_has_no_type_and_v1_links(api_client, account):
    data = create(api_client, "v1").json()["data"]

    template = Template.objects.get(account=account)
    assert set(data) == {"id", "name", "html", "createdAt", "updatedAt", "links"}
    assert data["links"]["self"] == f"{HOST}/api/rest/templates/{template.pk}"
    assert template.version == TemplateVersion.V1


def test_v2_list_has_no_html_and_show_has_it(api_client):
    template_id = create(api_client, "v2").json()["data"]["id"]

    listed = api_client.get("/api/rest/v2/templates").json()
    shown = api_client.get(f"/api/rest/v2/templates/{template_id}").json()

    assert set(listed["data"][0]) == {"id", "name", "type", "createdAt", "updatedAt"}
    assert listed["meta"]["pagination"]["total"] == 1
    assert shown["data"]["html"] == "<h1>Hello world</h1>"
    assert "links" not in shown["data"]


def test_v1_list_items_carry_the_html(api_client):
    create(api_client, "v1")

    [item] = api_client.get("/api/rest/templates").json()["data"]

    assert set(item) == {"id", "name", "html", "createdAt", "updatedAt"}


@pytest.mark.parametrize("prefix", ["/api/rest/templates", "/api/rest/v2/templates"])
def test_update_answers_201_as_the_spec_says_and_changes_the_template(api_client, prefix):
    template_id = api_client.post(prefix, {"name": "A", "html": "<p>a</p>"}, format="json").json()["data"]["id"]

    response = api_client.put(f"{prefix}/{template_id}", {"name": "B", "html": "<p>b</p>"}, format="json")

    assert response.status_code == 201
    assert response.json()["data"]["name"] == "B"
    assert Template.objects.get(pk=template_id).html == "<p>b</p>"


@pytest.mark.parametrize("prefix", ["/api/rest/templates", "/api/rest/v2/templates"])
def test_delete_answers_204(api_client, prefix):
    template_id = api_client.post(prefix, {"name": "A", "html": "<p>a</p>"}, format="json").json()["data"]["id"]

    assert api_client.delete(f"{prefix}/{template_id}").status_code == 204
    assert not Template.objects.filter(pk=template_id).exists()


def test_a_v1_id_is_missing_in_v2_and_the_reverse(api_client):
    v1 = create(api_client, "v1").json()["data"]["id"]
    v2 = create(api_client, "v2").json()["data"]["id"]

    assert api_client.get(f"/api/rest/v2/templates/{v1}").status_code == 404
    assert api_client.get(f"/api/rest/templates/{v2}").status_code == 404


def test_preview_is_html_with_a_sandbox_csp(api_client):
    template_id = create(api_client, "v2", name="X", html="<h1>Hi</h1><script>alert(1)</script>").json()["data"]["id"]

    response = api_client.get(f"/api/rest/v2/templates/{template_id}/preview")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert response.content.decode() == "<h1>Hi</h1><script>alert(1)</script>"
    csp = response["Content-Security-Policy"]
    assert csp.startswith("sandbox;")
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # falls back to default-src 'none': no script at all
    assert "frame-ancestors 'self'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_v1_preview_is_sandboxed_too(api_client):
    template_id = create(api_client, "v1").json()["data"]["id"]

    response = api_client.get(f"/api/rest/templates/{template_id}/preview")

    assert response["Content-Security-Policy"].startswith("sandbox;")


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"html": "<p>x</p>"}, "The name field is required."),
        ({"name": "x"}, "The html field is required."),
        ({"name": "x", "html": 5}, "The html must be a string."),
        ({"name": "x" * 256, "html": "<p>x</p>"}, "The name may not be greater than 255 characters."),
        ({"name": "x", "html": "<p>x</p>", "type": "MJML"}, "The selected type is invalid."),
        ({"name": "x\x00", "html": "<p>x</p>"}, "The name may not contain a NUL character."),
        ({"name": "x", "html": "<p>\x00</p>"}, "The html may not contain a NUL character."),
    ],
)
def test_invalid_templates_are_422_and_write_nothing(api_client, account, body, description):
    response = api_client.post("/api/rest/v2/templates", body, format="json")

    assert response.status_code == 422
    assert response.json() == {"error": {"code": 422, "description": description}}
    assert not Template.objects.filter(account=account).exists()


def test_a_body_that_is_not_json_is_125(api_client):
    response = api_client.generic("POST", "/api/rest/v2/templates", "{oops", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125


def test_an_invalid_update_changes_nothing(api_client):
    template_id = create(api_client, "v2").json()["data"]["id"]

    response = api_client.put(f"/api/rest/v2/templates/{template_id}", {"name": "", "html": "<p>x</p>"}, format="json")

    assert response.status_code == 422
    assert Template.objects.get(pk=template_id).name == "New Template"


def test_another_accounts_template_is_404_for_every_verb(api_client, other_client):
    template_id = create(other_client, "v2").json()["data"]["id"]
    url = f"/api/rest/v2/templates/{template_id}"

    assert api_client.get(url).status_code == 404
    assert api_client.get(f"{url}/preview").status_code == 404
    assert api_client.put(url, {"name": "Mine", "html": "<p>x</p>"}, format="json").status_code == 404
    assert api_client.delete(url).status_code == 404
    assert api_client.get("/api/rest/v2/templates").json()["data"] == []
    assert Template.objects.get(pk=template_id).name == "New Template"


def test_unknown_template_is_404_in_the_envelope(api_client):
    response = api_client.get("/api/rest/v2/templates/999999")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "description": "Resource not found"}}
