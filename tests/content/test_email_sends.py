"""Templates in sends and the one email preparation: templateId / templateV2Id, custom links
([unsubscribe_link], [form_ID], [show_link], [attachment_ID]), CSS inlined, tracking, and the
plain-text alternative in options["text_body"] — for POST /mailing and the group fan-out."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.fanout import fanout_chunk_run
from campaigns.models import FanoutChunk
from campaigns.services import mailing_group_send, sms_group_send
from contacts.models import Contact, Group, Membership
from content.email import email_template_prepare, text_alternative
from content.links import form_link_url, show_link_url
from content.models import TemplateVersion
from content.services import file_upload, form_create, template_create
from messaging.models import Message

pytestmark = pytest.mark.django_db

STYLED = """<html><head><style>h1 { color: red } .x { font-weight: bold }</style></head>
<body><h1 class="x">Hello {name}</h1><p><a href="[form_FORM]">Survey</a> <a href="[show_link]">View online</a>
<a href="[attachment_FILE]">Brochure</a> <a href="[unsubscribe_link]">Unsubscribe</a></p></body></html>"""


@pytest.fixture
def mail_account(account):
    from accounts.services import verified_sender_add

    verified_sender_add(account=account, email="info@sample.com")
    return account


@pytest.fixture
def form(account):
    return form_create(
        account=account, name="Opinion", form_fields=[{"type": "text", "label": "x", "customField": "x"}]
    )


@pytest.fixture
def brochure(account, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return file_upload(account=account, upload=SimpleUploadedFile("brochure.pdf", b"%PDF-1.4 tiny", "application/pdf"))


def styled_body(form, brochure) -> str:
    return STYLED.replace("FORM", str(form.pk)).replace("FILE", str(brochure.pk))


def mailing(api_client, **body):
    payload = {"to": ["ana@example.com"], "fromEmail": "info@sample.com", "replyTo": "info@sample.com",
               "subject": "News", **body}  # fmt: skip
    return api_client.post("/api/rest/mailing", payload, format="json")


def test_template_v2_id_sends_the_template_prepared_for_the_recipient(api_client, mail_account, form, brochure):
    Contact.objects.create(account=mail_account, email="ana@example.com", name="Ana")
    template = template_create(
        account=mail_account, version=TemplateVersion.V2, name="T", html=styled_body(form, brochure)
    )

    response = mailing(api_client, templateV2Id=template.pk, trackClicks=False)

    assert response.status_code == 202, response.json()
    message = Message.objects.get(account=mail_account)
    body = message.body
    assert '<h1 class="x" style="color: red;font-weight: bold;">Hello Ana</h1>' in body  # CSS inlined
    assert "<style" not in body
    assert f'href="{form_link_url(form_id=form.pk, public_id=message.public_id)}"' in body
    assert f'href="{show_link_url(message.public_id)}"' in body
    unsubscribe = message.options["headers"]["List-Unsubscribe"][1:-1]
    assert f'href="{unsubscribe}"' in body
    attachment = re.search(r'href="http://localhost:8000(/file/[^"]+)">Brochure', body).group(1)
    assert "/t/o/" in body  # the open pixel of tracking.links.email_tracking_apply (trackOpens defaults on)
    text = message.options["text_body"]
    assert "Hello Ana" in text and "<h1" not in text
    assert f"[Survey]({form_link_url(form_id=form.pk, public_id=message.public_id)})" in text
    assert attachment in text


def test_a_template_renders_contact_values_and_sub_with_the_sms_filters(api_client, mail_account):
    Contact.objects.create(account=mail_account, email="ana@example.com", name="ana maria")
    template = template_create(
        account=mail_account,
        version=TemplateVersion.V2,
        name="T",
        html="<p>{name|capitalizeAll}: {amount|formatDotComma}</p>",
    )

    response = mailing(api_client, templateV2Id=template.pk, sub=[{"amount": "1234.56"}], trackOpens=False)

    assert response.status_code == 202, response.json()
    assert Message.objects.get(account=mail_account).body == "<p>Ana Maria: 1.234,56</p>"


def test_template_id_sends_a_v1_template(api_client, mail_account):
    template = template_create(
        account=mail_account, version=TemplateVersion.V1, name="Old", html="<p>Legacy {name}</p>"
    )

    response = mailing(api_client, templateId=template.pk, trackOpens=False, trackClicks=False)

    assert response.status_code == 202
    message = Message.objects.get(account=mail_account)
    assert message.body == "<p>Legacy </p>"
    assert message.options["text_body"].strip() == "Legacy"


@pytest.mark.parametrize("key", ["templateId", "templateV2Id"])
def test_an_unknown_or_foreign_template_is_140_and_writes_nothing(api_client, mail_account, other_user, key):
    foreign = template_create(account=other_user.account, version=2 if key == "templateV2Id" else 1, name="T", html="x")

    for template_id in (foreign.pk, 999999):
        response = mailing(api_client, **{key: template_id})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == 140
    assert not Message.objects.filter(account=mail_account).exists()


def test_a_v1_id_given_as_template_v2_id_is_140(api_client, mail_account):
    template = template_create(account=mail_account, version=TemplateVersion.V1, name="Old", html="<p>x</p>")

    assert mailing(api_client, templateV2Id=template.pk).json()["error"]["code"] == 140


def test_a_template_id_that_is_not_a_number_is_422(api_client, mail_account):
    response = mailing(api_client, templateV2Id="abc")

    assert response.status_code == 422
    assert response.json()["error"]["description"] == "The templateV2Id must be an integer."


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('<a href="[form_999999]">x</a>', "The body links to form 999999, which does not exist."),
        ('<a href="[attachment_999999]">x</a>', "The body links to attachment 999999, which does not exist."),
    ],
)
def test_links_to_unknown_forms_or_files_are_refused(api_client, mail_account, body, problem):
    response = mailing(api_client, body=body)

    assert response.status_code == 422
    assert response.json()["error"]["description"] == problem
    assert not Message.objects.filter(account=mail_account).exists()


def test_show_link_serves_that_recipients_email_sandboxed(client, api_client, mail_account):
    mailing(api_client, body='<p>Hi</p><a href="[show_link]">web</a>', trackOpens=False, trackClicks=False)
    message = Message.objects.get(account=mail_account)

    response = client.get(show_link_url(message.public_id).removeprefix("http://localhost:8000"))

    assert response.status_code == 200
    assert response.content.decode() == message.body
    assert response["Content-Security-Policy"].startswith("sandbox;")


def test_a_tampered_show_link_is_404(client, api_client, mail_account):
    mailing(api_client, body="<p>Hi</p>")
    message = Message.objects.get(account=mail_account)
    path = show_link_url(message.public_id).removeprefix("http://localhost:8000")

    assert client.get(path.replace(message.public_id, "0000000000000")).status_code == 404
    assert client.get("/view/garbage/").status_code == 404


def test_attachment_links_download_the_file_and_tampering_is_404(client, api_client, mail_account, brochure):
    mailing(api_client, body=f'<a href="[attachment_{brochure.pk}]">Brochure</a>', trackClicks=False)
    body = Message.objects.get(account=mail_account).body
    path = re.search(r'href="http://localhost:8000(/file/[^"]+)"', body).group(1)

    response = client.get(path)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 tiny"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert client.get(path[:-3] + "xx/").status_code == 404


def test_group_mail_fanout_uses_the_same_preparation(mail_account, form, brochure, monkeypatch):
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *args, **kwargs: None)
    group = Group.objects.create(account=mail_account, name="G")
    for index in range(3):
        contact = Contact.objects.create(account=mail_account, email=f"c{index}@example.com", name=f"<N{index}>")
        Membership.objects.create(contact=contact, group=group)

    sending = mailing_group_send(
        account=mail_account, group_ids=[group.pk], from_email="info@sample.com", reply_to="info@sample.com",
        subject="Hi {name}", body=styled_body(form, brochure), track_clicks=False,
    )  # fmt: skip
    for chunk_id in FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True):
        fanout_chunk_run(chunk_id)

    messages = list(Message.objects.filter(sending=sending).order_by("recipient"))
    assert len(messages) == 3
    first = messages[0]
    assert 'style="color: red;font-weight: bold;">Hello &lt;N0&gt;</h1>' in first.body
    assert form_link_url(form_id=form.pk, public_id=first.public_id) in first.body
    assert show_link_url(first.public_id) in first.body
    assert "/t/o/" in first.body
    assert "Hello <N0>" in first.options["text_body"]
    assert first.options["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_group_mail_send_refuses_an_unknown_form(mail_account):
    from campaigns.services import SendError

    with pytest.raises(SendError) as refused:
        mailing_group_send(
            account=mail_account, group_ids=None, from_email="info@sample.com", reply_to="info@sample.com",
            subject="x", body='<a href="[form_424242]">x</a>',
        )  # fmt: skip
    assert refused.value.code == 422


def test_group_sms_fanout_fills_form_links(account, form, monkeypatch):
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *args, **kwargs: None)
    group = Group.objects.create(account=account, name="G")
    contact = Contact.objects.create(account=account, phone="34666000001", country_iso="ES")
    Membership.objects.create(contact=contact, group=group)

    sending = sms_group_send(account=account, group_ids=[group.pk], message=f"Go {form.placeholder}", sender="ACME")
    for chunk_id in FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True):
        fanout_chunk_run(chunk_id)

    message = Message.objects.get(sending=sending)
    assert message.body == f"Go {form_link_url(form_id=form.pk, public_id=message.public_id)}"


def test_group_sms_send_refuses_an_unknown_form(account):
    from campaigns.services import SendError

    with pytest.raises(SendError) as refused:
        sms_group_send(account=account, group_ids=None, message="Go {FORM_424242}", sender="ACME")
    assert refused.value.code == 422


def test_html_without_a_stylesheet_is_kept_as_written(account):
    prepared = email_template_prepare(account=account, body="<p>Hi {name}</p>")

    assert prepared.html.source == "<p>Hi {name}</p>"


def test_the_text_alternative_keeps_links_and_drops_markup():
    text = text_alternative('<h1>Title</h1><p>See <a href="https://example.com/a">this</a>.</p><img src="x.png">')

    assert text == "# Title\n\nSee [this](https://example.com/a).\n"


def test_a_form_link_in_the_subject_is_refused(api_client, mail_account, form):
    response = mailing(api_client, body="<p>x</p>", subject=f"Answer {form.placeholder}")

    assert response.status_code == 422
    assert "The subject cannot hold a form link" in response.json()["error"]["description"]
