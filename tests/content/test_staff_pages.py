"""Staff pages under /content/: index, template editor (v2 editable, v1 read-only) with its
sandboxed live preview, form builder for every annex element with preview, and files."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from content.form_fields import ELEMENT_TYPES, form_fields_clean
from content.models import AccountFile, Form, Template, TemplateVersion
from content.services import form_create, template_create
from tests.content.conftest import ALL_ELEMENTS

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, api_user):
    client.force_login(api_user)
    return client


def builder_post(elements, **settings) -> dict:
    data = {"name": "Built", "editable": "1", "rows": str(len(elements) + 1), **settings}
    for index, element in enumerate(elements):
        for key, value in element.items():
            if key == "options":
                data[f"f-{index}-options"] = "\n".join(f"{o['value']} | {o['label']}" for o in value)
            elif key == "required":
                if value:
                    data[f"f-{index}-required"] = "1"
            else:
                data[f"f-{index}-{key}"] = str(value)
    return data  # the last row stays blank, as the page renders it


def test_pages_need_a_signed_in_user(client):
    response = client.get("/content/")

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_index_links_to_templates_forms_files_and_short_links(staff):
    html = staff.get("/content/").content.decode()

    for href in ("/content/templates/", "/content/forms/", "/content/files/", "/content/links/"):
        assert f'href="{href}"' in html


def test_a_template_is_created_and_edited_through_the_same_service(staff, account):
    response = staff.post("/content/templates/new/", {"name": "Welcome", "html": "<h1>Hi {name}</h1>"})

    template = Template.objects.get(account=account)
    assert response.status_code == 302
    assert template.version == TemplateVersion.V2
    page = staff.get(f"/content/templates/{template.pk}/").content.decode()
    assert 'sandbox=""' in page and f"/content/templates/{template.pk}/preview/" in page
    assert "content/live-preview.js" in page
    staff.post(f"/content/templates/{template.pk}/", {"name": "Welcome 2", "html": "<p>x</p>"})
    assert Template.objects.get(pk=template.pk).name == "Welcome 2"


def test_template_errors_appear_beside_the_field_with_the_input_kept(staff, account):
    response = staff.post("/content/templates/new/", {"name": "", "html": "<p>kept</p>"})

    assert response.status_code == 422
    html = response.content.decode()
    assert '<p class="error" id="name-error">The name field is required.</p>' in html
    assert "&lt;p&gt;kept&lt;/p&gt;" in html
    assert not Template.objects.exists()


def test_v1_templates_are_readable_but_not_editable(staff, account):
    legacy = template_create(account=account, version=TemplateVersion.V1, name="Old", html="<p>old</p>")

    page = staff.get(f"/content/templates/{legacy.pk}/").content.decode()
    staff.post(f"/content/templates/{legacy.pk}/", {"name": "Changed", "html": "<p>new</p>"})

    assert "readonly" in page and "&lt;p&gt;old&lt;/p&gt;" in page
    assert Template.objects.get(pk=legacy.pk).name == "Old"


def test_template_previews_are_sandboxed(staff, account):
    template = template_create(account=account, version=2, name="T", html="<script>alert(1)</script>")

    stored = staff.get(f"/content/templates/{template.pk}/preview/")
    draft = staff.post("/content/templates/preview/", {"html": "<b>draft</b>"})

    assert stored["Content-Security-Policy"].startswith("sandbox;")
    assert draft["Content-Security-Policy"].startswith("sandbox;")
    assert draft.content == b"<b>draft</b>"
    assert stored["X-Frame-Options"] == "SAMEORIGIN"


def test_another_accounts_content_is_404(staff, other_user):
    template = template_create(account=other_user.account, version=2, name="T", html="x")
    form = form_create(account=other_user.account, name="F", form_fields=[{"type": "h1", "label": "x"}])

    assert staff.get(f"/content/templates/{template.pk}/").status_code == 404
    assert staff.get(f"/content/templates/{template.pk}/preview/").status_code == 404
    assert staff.post(f"/content/templates/{template.pk}/delete/").status_code == 404
    assert staff.get(f"/content/forms/{form.pk}/").status_code == 404
    assert staff.post(f"/content/forms/{form.pk}/delete/").status_code == 404
    assert Template.objects.filter(pk=template.pk).exists() and Form.objects.filter(pk=form.pk).exists()


def test_the_builder_creates_a_form_with_every_annex_element(staff, account):
    response = staff.post("/content/forms/new/", builder_post(ALL_ELEMENTS, rejectButton="1"))

    assert response.status_code == 302
    form = Form.objects.get(account=account)
    assert [field["type"] for field in form.fields] == list(ELEMENT_TYPES)
    assert form.reject_button is True
    assert form.fields == form_fields_clean(ALL_ELEMENTS)  # what the API stores for the same elements
    page = staff.get(f"/content/forms/{form.pk}/").content.decode()
    assert f"/content/forms/{form.pk}/preview/" in page
    for element_type in ELEMENT_TYPES:
        assert f'<option value="{element_type}"' in page


def test_builder_errors_appear_beside_the_element_field(staff, account):
    elements = [{"type": "h1", "label": "Title"}, {"type": "text", "label": "Name", "customField": "bad key!"}]

    response = staff.post("/content/forms/new/", builder_post(elements))

    assert response.status_code == 422
    html = response.content.decode()
    field_html = html.split('id="f-1-customField"')[1].split("</div>")[0]
    assert "may only contain letters" in field_html
    assert 'value="bad key!"' in html
    assert not Form.objects.exists()


def test_a_duplicate_form_name_is_shown_beside_the_name(staff, account):
    form_create(account=account, name="Built", form_fields=[{"type": "h1", "label": "x"}])

    response = staff.post("/content/forms/new/", builder_post([{"type": "h2", "label": "y"}]))

    assert response.status_code == 422
    assert '<p class="error" id="name-error">The name has already been taken.</p>' in response.content.decode()
    assert Form.objects.filter(account=account).count() == 1


def test_the_builder_preview_renders_the_draft_sandboxed(staff):
    response = staff.post("/content/forms/preview/", builder_post(ALL_ELEMENTS))

    assert response["Content-Security-Policy"].startswith("sandbox;")
    html = response.content.decode()
    assert "<h1>Title</h1>" in html and 'type="color"' in html and "<style>" in html


def test_an_invalid_draft_preview_says_why(staff):
    response = staff.post("/content/forms/preview/", builder_post([{"type": "text", "label": "x"}]))

    assert "Preview unavailable: The formFields.0.customField field is required." in response.content.decode()


def test_files_are_uploaded_listed_and_deleted(staff, account, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)

    response = staff.post("/content/files/", {"file": SimpleUploadedFile("a.txt", b"hello", "text/plain")})

    stored = AccountFile.objects.get(account=account)
    assert response.status_code == 302
    assert f"[attachment_{stored.pk}]" in staff.get("/content/files/").content.decode()
    staff.post(f"/content/files/{stored.pk}/delete/")
    assert not AccountFile.objects.exists()


def test_control_characters_of_a_forged_upload_are_dropped_from_its_name_and_type(staff, account, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)

    response = staff.post("/content/files/", {"file": SimpleUploadedFile("a\x00b.txt", b"hello", "text/pl\x00ain")})

    assert response.status_code == 302
    stored = AccountFile.objects.get(account=account)
    assert (stored.name, stored.content_type) == ("ab.txt", "text/plain")


def test_uploading_nothing_shows_the_error_beside_the_field(staff):
    response = staff.post("/content/files/", {})

    assert response.status_code == 422
    assert '<p class="error" id="file-error">Choose a file to upload.</p>' in response.content.decode()


def test_template_lists_page_by_id_and_show_legacy_ones_on_their_own_tab(staff, account):
    Template.objects.bulk_create(
        Template(account=account, version=2, name=f"T{index}", html="x") for index in range(55)
    )
    template_create(account=account, version=TemplateVersion.V1, name="Legacy one", html="x")

    first = staff.get("/content/templates/").content.decode()
    legacy = staff.get("/content/templates/?version=1").content.decode()

    assert "T54" in first and "T4<" not in first and 'rel="next"' in first
    assert "Legacy one" not in first
    assert "Legacy one" in legacy and "T54" not in legacy


def test_forms_list_shows_placeholders_and_answer_counts(staff, account):
    form = form_create(account=account, name="Poll", form_fields=[{"type": "h1", "label": "x"}])

    html = staff.get("/content/forms/").content.decode()

    assert f"<code>{{FORM_{form.pk}}}</code>" in html and f"[form_{form.pk}]" in html and "<td>0</td>" in html


def test_operators_read_content_in_the_admin(client, account, django_user_model):
    operator = django_user_model.objects.create_superuser(username="root", password="x", email="root@example.com")
    form_create(account=account, name="Poll", form_fields=[{"type": "h1", "label": "x"}])
    client.force_login(operator)

    for model in ("template", "form", "formanswer", "accountfile"):
        assert client.get(f"/admin/content/{model}/").status_code == 200
    assert client.get("/admin/content/form/add/").status_code == 403
