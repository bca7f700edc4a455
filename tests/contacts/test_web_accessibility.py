"""Every form control on the campaigns and contacts pages has a label (a <label for>, or an
aria-label where a visible label would repeat the table's column), and ids are unique."""

from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from contacts.models import Contact, CustomField, Group
from tests.campaigns.conftest import post_sms

pytestmark = pytest.mark.django_db


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.label_targets: set[str] = set()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.append(values["id"])
        if tag == "label" and values.get("for"):
            self.label_targets.add(values["for"])
        if tag in ("input", "select", "textarea") and values.get("type") not in ("hidden", "submit"):
            self.controls.append(values)


def unlabelled(html: str) -> list[dict[str, str]]:
    parser = _Controls()
    parser.feed(html)
    assert len(parser.ids) == len(set(parser.ids)), "duplicate ids"
    return [
        control
        for control in parser.controls
        if control.get("id") not in parser.label_targets and not control.get("aria-label")
    ]


def test_every_control_of_every_page_is_labelled(api_user, api_client, account):
    web = Client()
    web.force_login(api_user)
    Group.objects.create(account=account, name="VIP")
    CustomField.objects.create(account=account, key="city", type="string")
    contact = Contact.objects.create(account=account, phone="34666555444", name="Ana")
    sending_id = post_sms(
        api_client, to=["34666555444"], message="Hi", scheduleDate="20991111101010", **{"from": "ACME"}
    ).json()["sendingId"]
    web.post("/contacts/import/", {"file": SimpleUploadedFile("a.csv", b"phone,name\n666555444,Ana\n")})
    pages = [
        "/campaigns/",
        "/campaigns/sendings/",
        f"/campaigns/sendings/{sending_id}/",
        "/campaigns/scheduled/",
        "/contacts/",
        "/contacts/new/",
        f"/contacts/{contact.pk}/",
        f"/contacts/{contact.pk}/edit/",
        "/contacts/groups/",
        "/contacts/blacklists/sms/",
        "/contacts/import/",
        "/contacts/import/mapping/",
    ]
    for url in pages:
        response = web.get(url)
        assert response.status_code == 200, url
        assert unlabelled(response.content.decode()) == [], url
