"""POST /shortener/shorten, the short-link redirect, `{url|shorten}`, SMS link shortening and the
staff short-link list."""

import re

import pytest
from django.contrib.auth import get_user_model

from campaigns.services import sms_send
from messaging.models import Message
from messaging.rendering import compile_template
from tracking.models import ShortLink
from tracking.services import CODE_LENGTH, code_generate

from .conftest import path_of

SHORT = re.compile(r"https://go\.example\.org/([0-9][0-9A-Za-z]{7})")


def shorten(client, urls):
    return client.post("/api/rest/shortener/shorten", {"urls": urls}, format="json")


def test_spec_sample_shortens_valid_urls_and_flags_the_invalid_one(api_client):
    response = shorten(
        api_client,
        [{"longUrl": "https://example.com/test1"}, {"longUrl": "https://example.com/test2"}, {"longUrl": "invalidUrl"}],
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["longUrl"] for item in data] == [
        "https://example.com/test1",
        "https://example.com/test2",
        "invalidUrl",
    ]
    assert [item["error"] for item in data] == [False, False, True]
    assert SHORT.fullmatch(data[0]["shortUrl"]) and SHORT.fullmatch(data[1]["shortUrl"])
    assert data[0]["shortUrl"] != data[1]["shortUrl"]
    assert data[2]["shortUrl"] is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file", "javascript:alert(1)", "example.com", "", "https://", 42, None,
        "https://exa mple.com", "https://example.com/a\x00b", "https://example.com/a\x07b",
    ],
)  # fmt: skip
def test_only_absolute_http_and_https_urls_are_shortened(api_client, url):
    data = shorten(api_client, [{"longUrl": url}])
    assert data.status_code == 200
    assert data.json()["data"] == [{"longUrl": url, "shortUrl": None, "error": True}]
    assert not ShortLink.objects.exists()


def test_the_same_url_gets_the_same_short_link_within_an_account(api_client, other_client):
    first = shorten(api_client, [{"longUrl": "https://example.com/a"}]).json()["data"][0]["shortUrl"]
    again = shorten(api_client, [{"longUrl": "https://example.com/a"}]).json()["data"][0]["shortUrl"]
    theirs = shorten(other_client, [{"longUrl": "https://example.com/a"}]).json()["data"][0]["shortUrl"]
    assert first == again
    assert theirs != first
    assert ShortLink.objects.count() == 2


@pytest.mark.parametrize("body", [{}, {"urls": []}, {"urls": "https://example.com"}])
def test_missing_or_malformed_urls_list_is_422(api_client, body):
    response = api_client.post("/api/rest/shortener/shorten", body, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == 422


def test_body_that_is_not_json_is_400_125(api_client):
    response = api_client.post("/api/rest/shortener/shorten", "nope", content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, 125)


def test_shortener_needs_authentication(client, db):
    response = client.post("/api/rest/shortener/shorten", {"urls": []}, content_type="application/json")
    assert response.status_code == 401


def test_short_link_redirects_with_302_and_counts_clicks(api_client, client):
    short = shorten(api_client, [{"longUrl": "https://example.com/landing?a=1&b=2"}]).json()["data"][0]["shortUrl"]
    for _ in range(2):
        response = client.get(path_of(short))
        assert response.status_code == 302
        assert response["Location"] == "https://example.com/landing?a=1&b=2"
    link = ShortLink.objects.get()
    assert link.clicks == 2 and link.last_clicked_at is not None


def test_unknown_short_code_is_404(client, db):
    assert client.get("/" + "1abcdefg").status_code == 404


def test_short_codes_are_random_and_never_shadow_site_paths():
    codes = {code_generate() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(code) == CODE_LENGTH and code[0].isdigit() and code.isalnum() for code in codes)


def test_short_url_base_setting_moves_short_links_to_their_own_domain(api_client, settings):
    settings.SHORT_URL_BASE = "https://sms.tl/"
    short = shorten(api_client, [{"longUrl": "https://example.com/x"}]).json()["data"][0]["shortUrl"]
    assert re.fullmatch(r"https://sms\.tl/[0-9][0-9A-Za-z]{7}", short)


def test_shorten_filter_uses_the_platform_shortener(db):
    rendered = compile_template("Go {url|shorten}").render({"url": "https://example.com/a/very/long/path?x=1"})
    link = ShortLink.objects.get()
    assert rendered == f"Go https://go.example.org/{link.code}"
    assert link.account is None and link.long_url == "https://example.com/a/very/long/path?x=1"


def test_literal_links_in_an_sms_are_shortened_once_per_send(account):
    long_url = "https://shop.example.com/spring-sale/products?utm_source=sms&utm_campaign=spring"
    outcome = sms_send(
        account=account, message=f"Sale! {long_url}. Hurry", to=["34666555444", "34666555333"], sender="TEST"
    )
    link = ShortLink.objects.get(account=account)
    bodies = {m.body for m in Message.objects.filter(sending_id=outcome.sending_id)}
    assert bodies == {f"Sale! https://go.example.org/{link.code}. Hurry"}
    assert link.long_url == long_url


def test_personalised_and_already_short_links_are_left_alone(account):
    message = "A https://example.com/p/{ref} B https://x.co"
    outcome = sms_send(account=account, message=message, to=["34666555444"], sender="TEST", sub=[{"ref": "9"}])
    assert Message.objects.get(sending_id=outcome.sending_id).body == "A https://example.com/p/9 B https://x.co"
    assert not ShortLink.objects.exists()


# ---------------------------------------------------------------------------------------------
# Staff page


@pytest.fixture
def staff_client(client, api_user):
    staff = get_user_model().objects.create_user(username="staff", password="pw", account=api_user.account)
    client.force_login(staff)
    return client


def test_staff_page_lists_the_accounts_links_with_clicks_paginated(staff_client, api_client, other_client):
    shorten(api_client, [{"longUrl": f"https://example.com/{n}"} for n in range(55)])
    shorten(other_client, [{"longUrl": "https://globex.example.com/secret"}])
    ShortLink.objects.filter(long_url="https://example.com/54").update(clicks=7)
    page = staff_client.get("/content/links/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "https://example.com/54" in text and "<td>7</td>" in text
    assert "globex.example.com" not in text
    assert "https://example.com/4<" not in text  # the oldest links are on the next page
    next_url = re.search(r'href="(\?after=\d+)"', text).group(1)
    older = staff_client.get("/content/links/" + next_url.replace("&amp;", "&")).content.decode()
    assert "https://example.com/4<" in older


def test_staff_page_needs_login(client, db):
    response = client.get("/content/links/")
    assert response.status_code == 302


def test_head_requests_of_link_checkers_are_answered_but_not_counted(api_client, client):
    short = shorten(api_client, [{"longUrl": "https://example.com/x"}]).json()["data"][0]["shortUrl"]
    response = client.head(path_of(short))
    assert response.status_code == 302 and response["Location"] == "https://example.com/x"
    assert ShortLink.objects.get().clicks == 0


def test_group_sends_store_their_message_with_links_already_shortened(account):
    from campaigns.services import sms_group_send
    from contacts.models import Contact

    Contact.objects.create(account=account, phone="34666555444")
    long_url = "https://shop.example.com/spring-sale/products?utm_source=sms&utm_campaign=spring"
    sending = sms_group_send(account=account, group_ids=None, message=f"Sale {long_url}", sender="TEST")
    link = ShortLink.objects.get(account=account)
    assert sending.options["fanout"]["message"] == f"Sale https://go.example.org/{link.code}"


def test_shorten_filter_in_an_sms_gives_each_recipients_own_url_a_short_link(account):
    outcome = sms_send(
        account=account,
        message="Your order: {track|shorten}",
        to=["34666555444", "34666555333"],
        sender="TEST",
        sub=[
            {"track": "https://parcels.example.com/track/AAA111"},
            {"track": "https://parcels.example.com/track/BBB222"},
        ],
    )
    links = {link.long_url: link.code for link in ShortLink.objects.all()}
    bodies = {m.recipient: m.body for m in Message.objects.filter(sending_id=outcome.sending_id)}
    assert (
        bodies["34666555444"]
        == f"Your order: https://go.example.org/{links['https://parcels.example.com/track/AAA111']}"
    )
    assert (
        bodies["34666555333"]
        == f"Your order: https://go.example.org/{links['https://parcels.example.com/track/BBB222']}"
    )
