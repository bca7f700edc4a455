"""The compose page's JSON endpoints: audience after the blacklist, preview for a sample contact
with the SMS counter (GSM-7 / GSM-PT / UTF-16, what forces UTF-16, what trans changes), contact
search and the template picker, each scoped to the signed-in account."""

from decimal import Decimal

import pytest

from contacts.models import Contact, Group, Membership
from tests.campaigns.conftest import ES_PRICE, blacklist

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(client, api_user):
    client.force_login(api_user)
    return client


@pytest.fixture
def group(account) -> Group:
    """4 members with a phone (one blacklisted), one member without a phone, one non-member."""
    group = Group.objects.create(account=account, name="Customers")
    for index in range(4):
        contact = Contact.objects.create(
            account=account, phone=f"3466600000{index}", country_iso="ES", name=f"Ana{index}", surname="López"
        )
        Membership.objects.create(contact=contact, group=group)
    Membership.objects.create(contact=Contact.objects.create(account=account, email="x@example.com"), group=group)
    Contact.objects.create(account=account, phone="34666999999")
    blacklist(account, "sms", "346660000002")
    blacklist(account, "sms", "34666000002")
    return group


def audience(web, **fields):
    return web.post("/compose/audience/", {"channel": "sms", **fields}).json()


def preview(web, **fields):
    return web.post("/compose/preview/", {"channel": "sms", "encoding": "auto", **fields}).json()


def test_group_audience_counts_members_with_a_phone_less_the_blacklist(web, group):
    answer = audience(web, groups=[str(group.pk)])
    assert (answer["mode"], answer["found"], answer["blacklisted"], answer["sendable"]) == ("groups", 4, 1, 3)
    assert len(answer["samples"]) == 3
    assert answer["samples"][0][1] == "Ana0 López <34666000000>"
    assert Decimal(answer["costPerPart"]) == 3 * ES_PRICE
    assert answer["balance"] == "100.00"


def test_all_contacts_audience(web, group):
    assert audience(web, all_contacts="on")["sendable"] == 4


def test_email_audience_counts_addresses(web, group):
    answer = audience(web, channel="mailing", groups=[str(group.pk)])
    assert (answer["sendable"], Decimal(answer["costPerPart"])) == (1, 0)


def test_typed_audience_reports_invalid_duplicate_and_blacklisted_items(web, account, group):
    answer = audience(web, pasted="34666000000\n666000000, 34666000002 garbage +34666123456")
    assert answer["mode"] == "list"
    assert answer["invalid"] == ["garbage"]
    assert (answer["found"], answer["duplicates"], answer["blacklisted"], answer["sendable"]) == (4, 1, 1, 2)
    assert [key for key, _label in answer["samples"]][1] == "a34666123456"


def test_chosen_contacts_without_the_channels_address_are_counted_apart(web, account, group):
    emails_only = Contact.objects.get(account=account, email="x@example.com")
    phone = Contact.objects.filter(account=account, phone="34666000001").get()
    answer = audience(web, contacts=f"{emails_only.pk}, {phone.pk}")
    assert (answer["withoutAddress"], answer["sendable"]) == (1, 1)


def test_groups_and_typed_recipients_together_are_flagged(web, group):
    assert audience(web, groups=[str(group.pk)], pasted="34666000000")["mode"] == "mixed"


def test_another_accounts_group_is_refused(web, other_user):
    foreign = Group.objects.create(account=other_user.account, name="Globex")
    response = web.post("/compose/audience/", {"channel": "sms", "groups": [str(foreign.pk)]})
    assert response.status_code == 400
    assert "groups" in response.json()["errors"]


def test_another_accounts_contacts_are_not_counted(web, other_user):
    foreign = Contact.objects.create(account=other_user.account, phone="34666777888")
    assert audience(web, contacts=str(foreign.pk))["sendable"] == 0


def test_preview_renders_for_the_sample_contact(web, account, group):
    contact = Contact.objects.get(account=account, phone="34666000001")
    answer = preview(web, message="Hola {name|upper} {surname}", sample=f"c{contact.pk}")
    assert answer["body"] == "Hola ANA1 López"
    assert answer["sampleLabel"] == "Ana1 López <34666000001>"


def test_preview_of_another_accounts_contact_renders_nothing_of_it(web, other_user):
    foreign = Contact.objects.create(account=other_user.account, phone="34666777888", name="Secret")
    answer = preview(web, message="Hi {name}", sample=f"c{foreign.pk}")
    assert answer["body"] == "Hi {name}"
    assert answer["sampleLabel"] == ""


def test_counter_stays_gsm7_for_gsm_text(web):
    # Without a sample the text is measured as written: { } and € are extended, two septets each.
    sms = preview(web, message="Hello {name}, 10€ off")["sms"]
    assert (sms["label"], sms["characters"], sms["units"], sms["parts"], sms["leftInPart"]) == ("GSM-7", 21, 24, 1, 136)
    assert sms["forcingUtf16"] == []


def test_counter_switches_to_utf16_and_names_the_characters(web, group, account):
    contact = Contact.objects.get(account=account, phone="34666000001")
    sms = preview(web, message="Hi {name} ✓ ok", sample=f"c{contact.pk}")["sms"]
    assert sms["label"] == "UTF-16"
    assert sms["forcingUtf16"] == ["✓"]
    assert (sms["perPartLimit"], sms["leftInPart"]) == (70, 70 - len("Hi Ana1 ✓ ok"))


def test_counter_uses_gsm_pt_when_only_it_fits(web):
    sms = preview(web, message="Olá João")["sms"]
    assert sms["label"] == "GSM-PT"


def test_counter_shows_what_trans_would_change(web):
    sms = preview(web, message="Canción Ó ✓")["sms"]
    assert ["ó", "o"] in sms["trans"]["changes"] and ["Ó", "O"] in sms["trans"]["changes"]
    with_trans = preview(web, message="Canción Ó", encoding="auto", trans="on")
    assert with_trans["body"] == "Cancion O"
    assert with_trans["sms"]["label"] == "GSM-7"


def test_counter_flags_characters_a_chosen_encoding_cannot_carry(web):
    sms = preview(web, message="Hi ✓", encoding="gsm")["sms"]
    assert (sms["label"], sms["unsupported"]) == ("GSM-7", ["✓"])


def test_counter_counts_parts(web):
    sms = preview(web, message="x" * 161)["sms"]
    assert (sms["parts"], sms["perPartLimit"], sms["leftInPart"]) == (2, 153, 306 - 161)


def test_preview_reports_template_errors(web):
    answer = preview(web, message="Hi {name|shout}")
    assert "unknown filter" in answer["errors"]["message"]


def test_email_preview_escapes_contact_values_in_the_body(web, account):
    contact = Contact.objects.create(account=account, email="b@example.com", name="<b>Bob</b>")
    answer = web.post(
        "/compose/preview/",
        {"channel": "mailing", "subject": "Hi {name}", "body": "<p>{name}</p>", "sample": f"c{contact.pk}"},
    ).json()
    assert answer["body"] == "<p>&lt;b&gt;Bob&lt;/b&gt;</p>"
    assert answer["subject"] == "Hi <b>Bob</b>"
    assert answer["sms"] is None


def test_preview_refuses_an_unknown_channel_or_encoding(web):
    assert web.post("/compose/preview/", {"channel": "fax"}).status_code == 400
    assert web.post("/compose/preview/", {"channel": "sms", "encoding": "ascii"}).status_code == 400


def test_contact_search_finds_the_accounts_contacts_only(web, account, group, other_user):
    Contact.objects.create(account=other_user.account, phone="34666000003", name="Ana Globex")
    results = web.get("/compose/contacts/", {"q": "ana"}).json()["results"]
    assert len(results) == 4
    assert all("Globex" not in item["label"] for item in results)
    assert len(web.get("/compose/contacts/", {"q": "666000003"}).json()["results"]) == 1
    assert web.get("/compose/contacts/", {"q": "a"}).json()["results"] == []


def test_template_picker_returns_the_accounts_template_body(web, account, other_user):
    from content.models import Template

    mine = Template.objects.create(account=account, name="Welcome", html="<p>Welcome {name}</p>")
    foreign = Template.objects.create(account=other_user.account, name="Globex", html="<p>secret</p>")
    assert web.get("/compose/template/", {"template": f"2:{mine.pk}"}).json() == {"body": "<p>Welcome {name}</p>"}
    assert web.get("/compose/template/", {"template": f"2:{foreign.pk}"}).status_code == 404
    assert "Welcome" in web.get("/compose/").content.decode()


def test_endpoints_require_sign_in(client):
    assert client.post("/compose/audience/", {}).status_code == 302
    assert client.post("/compose/preview/", {}).status_code == 302
    assert client.get("/compose/contacts/?q=ab").status_code == 302


def test_landing_preview_counts_a_short_link_of_the_real_length(web):
    from tracking.services import code_generate, short_url

    answer = preview(web, channel="landing", message="Go {LAND_URL}")
    assert answer["errors"] == {}
    assert answer["body"].startswith("Go http")
    assert answer["sms"]["characters"] == len("Go ") + len(short_url(code_generate()))


def test_landing_audience_with_groups_is_flagged(web, group):
    assert audience(web, channel="landing", groups=[str(group.pk)])["mode"] == "landing-groups"
