"""Open pixel and click tracking of emails: rewriting, events, unique counters, no open redirect,
tampered tokens; and the whole flow from a send to the unsubscribe notification."""

import json
import re

import pytest
from django.conf import settings as django_settings
from django.core import signing

from campaigns.models import Sending
from contacts.models import BlacklistEntry, BlacklistType
from messaging.models import Event, EventType, Message, Notification
from messaging.notifications import account_post_fields
from tracking.links import _click_signature, click_token_read, click_url, email_tracking_apply, open_url

from .conftest import IPHONE_SAFARI, WINDOWS_FIREFOX, path_of, sms_message

HTML = (
    '<html><body><p>Hi</p><a href="https://shop.example.com/a?x=1&amp;y=2">Shop</a> '
    "<a href='http://example.com/b'>B</a> <a href=\"mailto:info@example.com\">Mail</a> "
    '<a href="#top">Top</a> <a href="https://go.example.org/u/ABC.sig">Unsubscribe</a> '
    '<a class="btn" href="https://example.com/{code}">Raw</a></body></html>'
)


def hrefs(markup: str) -> list[str]:
    return re.findall(r"""href=["']([^"']*)["']""", markup)


def test_links_point_to_the_click_redirect_and_the_pixel_closes_the_body():
    tracked = email_tracking_apply(HTML, public_id="PUB1", track_opens=True, track_clicks=True)
    links = hrefs(tracked)
    assert [click_token_read(link.rsplit("/", 1)[1]) for link in links[:2]] == [
        ("PUB1", "https://shop.example.com/a?x=1&y=2"),
        ("PUB1", "http://example.com/b"),
    ]
    assert all(link.startswith("https://go.example.org/t/c/") for link in links[:2])
    # mailto:, anchors, the platform's own pages and unrendered placeholders stay as they are.
    assert links[2:] == [
        "mailto:info@example.com",
        "#top",
        "https://go.example.org/u/ABC.sig",
        "https://example.com/{code}",
    ]
    assert re.search(r'<img src="https://go\.example\.org/t/o/PUB1\.[^"]+\.gif" width="1" height="1"', tracked)
    assert tracked.endswith("</body></html>")


def test_tracking_flags_are_honoured():
    assert email_tracking_apply(HTML, public_id="P", track_opens=False, track_clicks=False) == HTML
    opens_only = email_tracking_apply(HTML, public_id="P", track_opens=True, track_clicks=False)
    assert "/t/c/" not in opens_only and "/t/o/" in opens_only
    clicks_only = email_tracking_apply(
        "<p><a href='https://e.com'>x</a></p>", public_id="P", track_opens=False, track_clicks=True
    )
    assert "/t/o/" not in clicks_only and "/t/c/" in clicks_only


def test_pixel_is_appended_to_html_without_a_body_tag():
    assert email_tracking_apply("<p>x</p>", public_id="P", track_opens=True, track_clicks=False).startswith(
        "<p>x</p><img "
    )


def test_click_records_event_with_browser_and_redirects_to_the_links_target(client, account):
    message = sms_message(account)
    response = client.get(
        path_of(click_url(message.public_id, "https://example.com/offer")), HTTP_USER_AGENT=IPHONE_SAFARI
    )
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/offer"
    event = Event.objects.get(message=message)
    assert (event.type, event.url, event.extra) == (
        "clicked",
        "https://example.com/offer",
        {"url": "https://example.com/offer"},
    )
    assert (event.browser, event.os, event.is_mobile) == ("Safari", "iOS", True)


def test_clicks_count_each_time_and_clicked_unique_once_per_recipient(client, account):
    message = sms_message(account)
    url = path_of(click_url(message.public_id, "https://example.com/offer"))
    client.get(url, HTTP_USER_AGENT=WINDOWS_FIREFOX)
    client.get(url, HTTP_USER_AGENT=WINDOWS_FIREFOX)
    client.get(path_of(click_url(message.public_id, "https://example.com/other")))
    sending = Sending.objects.get(pk=message.sending_id)
    assert (sending.clicked, sending.clicked_unique) == (3, 1)


def test_open_pixel_is_a_gif_and_counts_opened_unique_once(client, account):
    message = sms_message(account)
    for _ in range(3):
        response = client.get(path_of(open_url(message.public_id)), HTTP_USER_AGENT=WINDOWS_FIREFOX)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif" and response.content.startswith(b"GIF89a")
        assert "no-cache" in response["Cache-Control"]
    sending = Sending.objects.get(pk=message.sending_id)
    assert (sending.opened, sending.opened_unique) == (3, 1)
    assert Event.objects.filter(type="opened", browser="Firefox", os="Windows", is_mobile=False).count() == 3


def test_the_redirect_target_never_comes_from_the_query_string(client, account):
    message = sms_message(account)
    url = path_of(click_url(message.public_id, "https://example.com/offer"))
    response = client.get(url + "?url=https://evil.example.net/&next=https://evil.example.net/")
    assert response["Location"] == "https://example.com/offer"


def test_a_token_cannot_be_forged_for_another_url(client, account, settings):
    message = sms_message(account)
    good = click_url(message.public_id, "https://example.com/offer").rsplit("/", 1)[1]
    _value, _, signature = good.rpartition(".")
    evil = signing.b64_encode(b"https://evil.example.net").decode()
    other_key = _click_signature(f"{message.public_id}.{evil}", "not-the-secret-key")
    for token in (
        f"{message.public_id}.{evil}.{signature}",  # the signature of another URL
        f"{message.public_id}.{evil}.{other_key}",  # signed with another key
        good[:-2] + ("xx" if not good.endswith("xx") else "yy"),
        "garbage",
        good + "a",
        "...",
        f"{message.public_id}..{signature}",
    ):
        assert client.get(f"/t/c/{token}").status_code == 404
    assert not Event.objects.exists()


def test_tokens_signed_with_a_rotated_key_keep_working(client, account, settings):
    message = sms_message(account)
    old = click_url(message.public_id, "https://example.com/offer")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "z" * 40
    assert client.get(path_of(old))["Location"] == "https://example.com/offer"


def test_open_pixels_signed_with_a_rotated_key_keep_working(client, account, settings):
    message = sms_message(account)
    old = open_url(message.public_id)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "z" * 40
    assert old != open_url(message.public_id)
    assert client.get(path_of(old)).status_code == 200
    assert Sending.objects.get(pk=message.sending_id).opened == 1


def test_a_tracked_email_link_is_the_same_token_as_click_url():
    tracked = email_tracking_apply(
        '<a href="https://shop.example.com/a?x=1&amp;y=2">Shop</a>',
        public_id="PUB1",
        track_opens=False,
        track_clicks=True,
    )
    assert hrefs(tracked) == [click_url("PUB1", "https://shop.example.com/a?x=1&y=2")]


@pytest.mark.parametrize("path", ["/t/o/garbage.gif", "/t/o/ABC.xyz.gif", "/t/c/abc"])
def test_tampered_tracking_tokens_are_404(client, db, path):
    assert client.get(path).status_code == 404


def test_valid_tokens_of_a_message_that_does_not_exist_are_404(client, db):
    assert client.get(path_of(open_url("NOPE"))).status_code == 404
    assert client.get(path_of(click_url("NOPE", "https://example.com"))).status_code == 404


def test_tracking_of_javascript_or_platform_urls_is_refused_even_when_signed(client, account):
    message = sms_message(account)
    for target in ("javascript:alert(1)", "https://go.example.org/admin/"):
        value = f"{message.public_id}.{signing.b64_encode(target.encode()).decode()}"
        token = f"{value}.{_click_signature(value, django_settings.SECRET_KEY)}"
        assert client.get(f"/t/c/{token}").status_code == 404


# ---------------------------------------------------------------------------------------------
# End to end: send -> open -> click -> unsubscribe -> blacklist -> event -> notification


def test_email_send_open_click_unsubscribe_blacklist_event_and_notification(
    api_client, mail_account, client, django_capture_on_commit_callbacks
):
    mail_account.event_notification_url = "https://hooks.example.com/events"
    mail_account.save(update_fields=["event_notification_url"])
    body = (
        '<html><body><h1>Offer</h1><a href="https://shop.example.com/offer">See it</a>'
        '<a href="[unsubscribe_link]">Unsubscribe</a></body></html>'
    )
    response = api_client.post(
        "/api/rest/mailing",
        {
            "to": ["ann@example.com"],
            "fromEmail": "info@sample.com",
            "replyTo": "replyto@example.com",
            "subject": "Offer",
            "body": body,
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    message = Message.objects.get(public_id=response.json()["result"][0]["id"])
    links = hrefs(message.body)
    pixel = re.search(r'<img src="([^"]+)"', message.body).group(1)
    click = next(link for link in links if "/t/c/" in link)
    unsubscribe = next(link for link in links if "/u/" in link)
    assert message.options["headers"]["List-Unsubscribe"] == f"<{unsubscribe}>"

    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(path_of(pixel), HTTP_USER_AGENT=IPHONE_SAFARI).status_code == 200
        assert client.get(path_of(click), HTTP_USER_AGENT=IPHONE_SAFARI)["Location"] == "https://shop.example.com/offer"
        one_click = client.post(
            path_of(unsubscribe), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
    assert one_click.status_code == 200

    assert list(Event.objects.filter(message=message).values_list("type", flat=True)) == [
        EventType.OPENED,
        EventType.CLICKED,
        EventType.UNSUBSCRIBED,
    ]
    assert BlacklistEntry.objects.filter(
        account=mail_account, type=BlacklistType.MAILING, recipient="ann@example.com"
    ).exists()
    sending = Sending.objects.get(pk=message.sending_id)
    assert (sending.opened_unique, sending.clicked_unique, sending.unsubscribed) == (1, 1, 1)
    notified = Notification.objects.filter(account=mail_account, url="https://hooks.example.com/events")
    assert sorted(notified.values_list("event__type", flat=True)) == ["clicked", "opened", "unsubscribed"]
    clicked = dict(account_post_fields(event=Event.objects.get(message=message, type=EventType.CLICKED)))
    assert (clicked["id"], clicked["channel"], clicked["event"]) == (message.public_id, "mailing", "clicked")
    assert json.loads(clicked["extra"]) == {"url": "https%3A%2F%2Fshop.example.com%2Foffer"}  # "url_encoded"
    # The next send to the unsubscribed recipient is refused.
    again = api_client.post(
        "/api/rest/mailing",
        {
            "to": ["ann@example.com"],
            "fromEmail": "info@sample.com",
            "replyTo": "replyto@example.com",
            "subject": "x",
            "body": "x",
        },
        format="json",
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == 102
