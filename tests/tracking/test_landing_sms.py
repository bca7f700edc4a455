"""POST /landingsms and the landing pages it links to."""

import re
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Account
from campaigns.models import Channel, Sending
from contacts.models import BlacklistEntry, BlacklistType, Contact
from content.models import Template, TemplateVersion
from messaging.models import Event, Message
from tracking.models import ShortLink, ShortLinkKind

from .conftest import IPHONE_SAFARI, path_of

# The spec's request sample.
SAMPLE = {
    "to": ["34666555444"],
    "message": "TEST API LANDING {LAND_URL}",
    "from": "LANDINGAPI",
    "templateBody": "<html><head><title>LANDING TEST</title></head><body><h1>HELLO LANDING</h1></body></html>",
}
LAND = re.compile(r"https://go\.example\.org/([0-9][0-9A-Za-z]{7})")


def post(client, **changes: Any):
    return client.post("/api/rest/landingsms", {**SAMPLE, **changes}, format="json")


def nothing_written(account: Account) -> bool:
    return not Sending.objects.filter(account=account).exists() and not ShortLink.objects.exists()


def test_spec_sample_is_accepted_with_the_sms_result_shape(api_client, account):
    response = post(api_client)
    assert response.status_code == 202
    body = response.json()
    assert body["campaignId"] == 0 and body["sendingId"] == Sending.objects.get().pk
    (result,) = body["result"]
    assert set(result) == {"accepted", "to", "id", "parts", "scheduledAt", "expiresAt"}
    assert (result["accepted"], result["to"], result["parts"], result["scheduledAt"]) == (True, "34666555444", 1, None)
    message = Message.objects.get(public_id=result["id"])
    assert message.channel == Channel.LANDING and message.sender == "LANDINGAPI"
    code = LAND.fullmatch(message.body.removeprefix("TEST API LANDING ")).group(1)
    link = ShortLink.objects.get(code=code)
    assert (link.kind, link.account, link.message_public_id) == (ShortLinkKind.LANDING, account, message.public_id)
    assert Sending.objects.get().channel == Channel.LANDING
    assert account.__class__.objects.get(pk=account.pk).balance < Decimal("100")


def test_each_recipient_gets_an_own_link(api_client):
    response = post(api_client, to=["34666555444", "34666555333"])
    codes = {LAND.search(m.body).group(1) for m in Message.objects.all()}
    assert len(codes) == 2 and ShortLink.objects.filter(code__in=codes).count() == 2
    assert response.status_code == 202


def test_landing_page_renders_recipient_variables_escaped_and_records_the_open(api_client, client, account):
    Contact.objects.create(account=account, phone="34666555444", name="<b>Ann</b>", custom_fields={"city": "Vigo"})
    response = post(
        api_client,
        templateBody="<html><body><h1>Hi {name}</h1><p>{city} {coupon}</p>"
        '<a href="https://shop.example.com/deal">Deal</a><a href="[unsubscribe_link]">Leave</a></body></html>',
        sub=[{"coupon": "<script>alert(1)</script>"}],
    )
    message = Message.objects.get(public_id=response.json()["result"][0]["id"])
    page = client.get(path_of(LAND.search(message.body).group(0)), HTTP_USER_AGENT=IPHONE_SAFARI)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Hi &lt;b&gt;Ann&lt;/b&gt;</h1>" in html
    assert "<p>Vigo &lt;script&gt;alert(1)&lt;/script&gt;</p>" in html
    assert "sandbox" in page["Content-Security-Policy"] and "script-src" not in page["Content-Security-Policy"]
    assert page["Referrer-Policy"] == "no-referrer"
    event = Event.objects.get(message=message)
    assert (event.type, event.browser, event.is_mobile) == ("opened", "Safari", True)
    assert ShortLink.objects.get(message_public_id=message.public_id).clicks == 1

    # Links in the page are tracked clicks.
    deal = re.search(r'href="(https://go\.example\.org/t/c/[^"]+)"', html).group(1)
    assert client.get(path_of(deal))["Location"] == "https://shop.example.com/deal"
    assert Event.objects.filter(message=message, type="clicked", url="https://shop.example.com/deal").exists()


def test_unsubscribing_from_a_landing_page_records_unsubscribed_landing(api_client, client, account):
    response = post(api_client)
    message = Message.objects.get(public_id=response.json()["result"][0]["id"])
    html = client.get(path_of(LAND.search(message.body).group(0))).content.decode()
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    assert "Unsubscribe from these messages" in html
    assert client.post(path_of(action)).status_code == 200
    assert Event.objects.filter(message=message, type="unsubscribed_landing").exists()
    assert BlacklistEntry.objects.filter(account=account, type=BlacklistType.SMS, recipient="34666555444").exists()
    assert Sending.objects.get().unsubscribed_landing == 1


def test_form_and_attachment_links_in_a_landing_page_are_the_recipients_own(api_client, client, account, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from content.links import form_link_url
    from content.services import file_upload, form_create

    survey = form_create(
        account=account, name="Survey", form_fields=[{"type": "text", "label": "x", "customField": "x"}]
    )
    brochure = file_upload(account=account, upload=SimpleUploadedFile("b.pdf", b"%PDF-1.4", "application/pdf"))
    response = post(
        api_client,
        templateBody=f'<p><a href="[form_{survey.pk}]">Survey</a><a href="[attachment_{brochure.pk}]">PDF</a></p>',
    )
    message = Message.objects.get(public_id=response.json()["result"][0]["id"])

    html = client.get(path_of(LAND.search(message.body).group(0))).content.decode()

    form_link = form_link_url(form_id=survey.pk, public_id=message.public_id)
    assert f'href="{form_link}"' in html
    assert client.get(path_of(form_link)).status_code == 200
    attachment = re.search(r'href="(https://go\.example\.org/file/[^"]+)">PDF', html).group(1)
    assert client.get(path_of(attachment)).status_code == 200


@pytest.mark.parametrize("link", ["[form_999999]", "[attachment_999999]"])
def test_a_landing_page_linking_to_an_unknown_form_or_file_is_422(api_client, account, link):
    response = post(api_client, templateBody=f'<a href="{link}">x</a>')
    assert response.status_code == 422
    assert "999999, which does not exist." in response.json()["error"]["description"]
    assert nothing_written(account)


def test_unsub_url_in_the_message_is_the_recipients_unsubscribe_link(api_client, settings):
    response = post(api_client, message="Offer {LAND_URL} Stop {UNSUB_URL}")
    message = Message.objects.get(public_id=response.json()["result"][0]["id"])
    assert re.fullmatch(r"Offer https://go\.example\.org/\w{8} Stop https://go\.example\.org/u/[\w.:-]+", message.body)


def test_message_without_land_url_is_141(api_client, account):
    response = post(api_client, message="No placeholder")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 141
    assert nothing_written(account)


def test_missing_template_is_140(api_client, account):
    response = post(api_client, templateBody=None)
    assert (response.status_code, response.json()["error"]["code"]) == (400, 140)
    assert nothing_written(account)


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"templateBody": "<p>a\x00b</p>"}, "The templateBody may not contain a NUL character."),
        (
            {"templateBody": "<p>{coupon}</p>", "sub": [{"coupon": "a\x00b"}]},
            "The sub.0.coupon may not contain a NUL character.",
        ),
    ],
)
def test_nul_characters_in_the_landing_content_are_422_and_write_nothing(api_client, account, changes, description):
    response = post(api_client, **changes)
    assert response.status_code == 422
    assert response.json() == {"error": {"code": 422, "description": description}}
    assert nothing_written(account)


def test_template_v2_id_and_template_id_give_the_landing_content(api_client, client, account):
    v2 = Template.objects.create(account=account, version=TemplateVersion.V2, name="v2", html="<p>V2 page {name}</p>")
    v1 = Template.objects.create(account=account, version=TemplateVersion.V1, name="v1", html="<p>V1 page</p>")
    for field, template, text in (("templateV2Id", v2, "V2 page"), ("templateId", v1, "V1 page")):
        response = post(api_client, templateBody=None, **{field: template.pk})
        assert response.status_code == 202, response.json()
        message = Message.objects.get(public_id=response.json()["result"][0]["id"])
        assert text in client.get(path_of(LAND.search(message.body).group(0))).content.decode()


def test_another_accounts_template_is_140(api_client, other_user, account):
    theirs = Template.objects.create(account=other_user.account, version=TemplateVersion.V2, name="t", html="<p>x</p>")
    response = post(api_client, templateBody=None, templateV2Id=theirs.pk)
    assert (response.status_code, response.json()["error"]["code"]) == (400, 140)
    assert nothing_written(account)


@pytest.mark.parametrize(("parts", "code"), [(9, 110), (0, 110), ("x", 110)])
def test_parts_are_1_to_8(api_client, account, parts, code):
    response = post(api_client, parts=parts)
    assert response.json()["error"]["code"] == code
    assert nothing_written(account)


def test_eight_parts_carry_a_long_message(api_client):
    response = post(api_client, message="x" * 900 + " {LAND_URL}", parts=8)
    assert response.status_code == 202
    assert response.json()["result"][0]["parts"] == 7


def test_too_long_for_the_parts_given_is_105(api_client, account):
    response = post(api_client, message="x" * 200 + " {LAND_URL}")
    assert response.json()["error"]["code"] == 105
    assert nothing_written(account)


def test_some_invalid_recipients_answer_207_and_only_valid_ones_get_links(api_client):
    response = post(api_client, to=["34666555444", "34"])
    assert response.status_code == 207
    assert response.json()["result"][1] == {
        "accepted": False,
        "to": "34",
        "error": {"code": 102, "description": "No valid recipients"},
    }
    assert ShortLink.objects.count() == 1


def test_a_notification_url_to_a_metadata_address_is_109_naming_why(api_client, account):
    response = post(api_client, notificationUrl="http://169.254.169.254/latest/meta-data/")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 109,
        "description": "Notification URL incorrect: the address 169.254.169.254 is link-local.",
    }
    assert nothing_written(account)


def test_every_sms_parameter_is_honoured(api_client, account):
    response = post(
        api_client,
        to=["34666555444", "34666555333"],
        encoding="utf-16",
        scheduleDate="20991231120000",
        expirationDate="21000101120000",
        parts=2,
        notificationUrl="https://example.com/notify",
        trans=1,
        campaignName="Landing spring",
        tags=["spring"],
        certified=True,
        sub=[{"name": "Ann"}, {"name": "Bob"}],
        splitParts=True,
        flash=True,
        message="Hola {name} {LAND_URL}",
    )
    assert response.status_code == 202, response.json()
    sending = Sending.objects.get()
    assert sending.campaign.name == "Landing spring" and sending.campaign.tags == ["spring"]
    assert sending.options["encoding"] == "utf-16" and sending.options["certified"] is True
    messages = {m.recipient: m for m in Message.objects.all()}
    ann = messages["34666555444"]
    assert ann.body.startswith("Hola Ann https://go.example.org/")
    assert ann.status == "scheduled" and ann.scheduled_at.year == 2099 and ann.expires_at.year == 2100
    assert ann.notification_url == "https://example.com/notify" and ann.certified
    assert ann.options == {"flash": True, "split_parts": True}
    assert response.json()["result"][0]["scheduledAt"] == "2099-12-31T12:00:00+00:00"
    link = ShortLink.objects.get(message_public_id=ann.public_id)
    assert link.values == {"name": "Ann"}


def test_unknown_filter_in_the_template_is_422(api_client, account):
    response = post(api_client, templateBody="<p>{name|shout}</p>")
    assert response.status_code == 422
    assert nothing_written(account)


def test_land_url_stays_refused_in_plain_sms(api_client, account):
    response = api_client.post(
        "/api/rest/sms", {"to": ["34666555444"], "from": "T", "message": "{LAND_URL}"}, format="json"
    )
    assert response.status_code == 422


def test_landing_page_of_an_unknown_code_is_404(client, db):
    assert client.get("/9zzzzzzz").status_code == 404
