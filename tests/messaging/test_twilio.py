"""The Twilio provider against a local fake of Twilio's Messages API, and its webhooks."""

from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.utils import timezone

from contacts.models import BlacklistEntry
from messaging.models import Event, InboundWebhook, Message, MessageStatus, ProviderRoute
from messaging.providers import provider_class
from messaging.providers.base import InboundMessage, OutboundMessage, ProviderError
from messaging.providers.twilio import STATUS_EVENTS, TwilioProvider, twilio_signature
from messaging.webhooks import inbound_webhooks_process
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, sign
from tests.messaging.provider_contract import (
    WebhookRequest,
    WebhookSignatureContract,
    fresh_webhook_state,  # noqa: F401  (autouse)
    message_create,
    post,
)

STATUS_URL = "http://localhost:8000/webhooks/twilio/status"
INBOUND_URL = "http://localhost:8000/webhooks/twilio/inbound"
TWILIO_NUMBER = "+15005550006"


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def provider(fake) -> TwilioProvider:
    return TwilioProvider(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": fake.api_base, "from": TWILIO_NUMBER}
    )


def outbound(recipient: str = "34666555444", body: str = "Your code is 1234", message_id: int = 1) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id, public_id=f"P{message_id}", channel="sms", sender="ACME", recipient=recipient, body=body
    )


def form_request(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> WebhookRequest:
    path = url.removeprefix("http://localhost:8000")
    return WebhookRequest(
        path=path,
        body=urlencode(params).encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign(token, url, params)},
    )


def status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "ApiVersion": "2010-04-01",
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+34666555444",
        "From": TWILIO_NUMBER,
        **extra,
    }


def inbound_params(body: str, *, from_: str = "+34666555444", sid: str = "SMinbound0001") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "To": TWILIO_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }


# Sending ----------------------------------------------------------------------------------------


def test_twilio_is_registered_as_a_provider():
    assert provider_class("twilio") is TwilioProvider


def test_send_posts_the_message_with_basic_auth_and_returns_twilios_sid(provider, fake):
    sid = provider.send(outbound())

    [taken] = fake.messages
    assert sid == taken["sid"] and sid.startswith("SM")
    assert taken["to"] == "+34666555444"
    assert taken["from"] == TWILIO_NUMBER
    assert taken["body"] == "Your code is 1234"
    assert taken["status_callback"] == STATUS_URL


@override_settings(PUBLIC_URL="https://campaigns.example.com")
def test_status_callback_is_built_from_public_url(provider, fake):
    provider.send(outbound())
    assert fake.messages[0]["status_callback"] == "https://campaigns.example.com/webhooks/twilio/status"


def test_message_sender_is_used_when_the_route_fixes_none(fake):
    provider = TwilioProvider({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": fake.api_base})
    provider.send(outbound())
    assert fake.messages[0]["from"] == "ACME"


def test_messaging_service_sid_replaces_from(fake):
    provider = TwilioProvider(
        {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base": fake.api_base,
            "messaging_service_sid": "MG" + "1" * 32,
        }
    )
    provider.send(outbound())
    assert fake.messages[0]["messaging_service_sid"] == "MG" + "1" * 32


def test_invalid_to_number_is_a_permanent_error_with_twilios_reason(provider, fake):
    with pytest.raises(ProviderError) as caught:
        provider.send(outbound(recipient="12"))
    assert caught.value.permanent is True
    assert caught.value.code == "21211"
    assert "The 'To' number +12 is not a valid phone number." in caught.value.reason
    assert fake.messages == []


@pytest.mark.parametrize(
    ("status", "code", "text", "permanent"),
    [
        (400, 21610, "Attempt to send to unsubscribed recipient", True),
        (400, 21408, "Permission to send an SMS has not been enabled for the region", True),
        (429, 20429, "Too Many Requests", False),
        (500, 20500, "Internal Server Error", False),
        (503, 20503, "Service Unavailable", False),
    ],
)
def test_twilio_error_answers_map_to_permanent_or_transient(provider, fake, status, code, text, permanent):
    fake.fail_next(status, code, text)
    with pytest.raises(ProviderError) as caught:
        provider.send(outbound())
    assert caught.value.permanent is permanent
    assert caught.value.code == str(code)
    assert text in caught.value.reason


def test_wrong_auth_token_is_transient_so_fixing_the_route_recovers_the_queue(fake):
    provider = TwilioProvider(
        {"account_sid": ACCOUNT_SID, "auth_token": "wrong", "api_base": fake.api_base, "from": "X"}
    )
    with pytest.raises(ProviderError) as caught:
        provider.send(outbound())
    assert caught.value.permanent is False
    assert caught.value.code == "20003"


def test_unreachable_twilio_is_transient_and_sent_nothing():
    provider = TwilioProvider(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": "http://127.0.0.1:9", "from": "X"}
    )
    with pytest.raises(ProviderError) as caught:
        provider.send(outbound())
    assert caught.value.permanent is False
    assert caught.value.code == "connection"


def test_missing_credentials_are_transient():
    with pytest.raises(ProviderError) as caught:
        TwilioProvider({"api_base": "http://127.0.0.1:9"}).send(outbound())
    assert caught.value.permanent is False


def test_read_timeout_after_twilio_took_the_message_returns_its_sid_from_a_lookup(fake):
    provider = TwilioProvider(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": fake.api_base, "from": "X", "timeout": 0.3}
    )
    fake.delay_next(1.0)
    sid = provider.send(outbound())
    assert [m["sid"] for m in fake.messages] == [sid]


def test_connection_dropped_without_answer_is_maybe_sent_not_a_plain_retry(provider, fake):
    fake.drop_next()
    with pytest.raises(ProviderError) as caught:
        provider.send(outbound())
    assert caught.value.permanent is False
    assert caught.value.code == "maybe_sent"


def test_send_batch_reports_each_message_on_its_own(provider, fake):
    fake.fail_for("+34600000002", 400, 21614, "'To' number is not a valid mobile number")
    results = provider.send_batch(
        [
            outbound("34600000001", message_id=1),
            outbound("34600000002", message_id=2),
            outbound("34600000003", message_id=3),
        ]
    )
    assert [r.accepted for r in results] == [True, False, True]
    assert results[1].error.permanent is True
    assert len(fake.messages) == 2


def test_credentials_never_appear_in_the_provider_repr(provider):
    assert AUTH_TOKEN not in repr(provider)


def test_credentials_fall_back_to_the_environment(fake, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TWILIO_FROM", TWILIO_NUMBER)
    assert TwilioProvider({"api_base": fake.api_base}).send(outbound()).startswith("SM")


# Lookup (reconciliation) ------------------------------------------------------------------------


def test_lookup_finds_the_sid_of_a_message_twilio_took(provider, fake):
    sid = provider.send(outbound(body="Lookup me"))
    provider.send(outbound(body="Another text"))
    assert provider.lookup(outbound(body="Lookup me")) == sid


def test_lookup_answers_none_when_twilio_never_took_the_message(provider, fake):
    provider.send(outbound(body="Something else"))
    assert provider.lookup(outbound(body="Never sent")) is None
    assert provider.lookup(outbound(recipient="34699999999", body="Something else")) is None


def test_lookup_follows_twilios_pages(provider, fake):
    wanted = fake.create({"To": "+34666555444", "From": TWILIO_NUMBER, "Body": "the old one"})[1]["sid"]
    for number in range(150):
        fake.create({"To": "+34666555444", "From": TWILIO_NUMBER, "Body": f"newer {number}"})
    assert provider.lookup(outbound(body="the old one")) == wanted


def test_lookup_failure_is_a_transient_provider_error(fake):
    provider = TwilioProvider({"account_sid": ACCOUNT_SID, "auth_token": "wrong", "api_base": fake.api_base})
    with pytest.raises(ProviderError):
        provider.lookup(outbound())


# Parsing ----------------------------------------------------------------------------------------


def parse(params: dict[str, str]):
    return TwilioProvider().parse_webhook("application/x-www-form-urlencoded", urlencode(params).encode())


@pytest.mark.parametrize(
    ("status", "event_type"),
    [("delivered", "delivered"), ("undelivered", "undelivered"), ("failed", "rejected")],
)
def test_status_callbacks_map_to_our_event_types(status, event_type):
    [event] = parse(status_params("SM123", status))
    assert event.type == event_type == STATUS_EVENTS[status]
    assert event.provider == "twilio"
    assert event.provider_message_id == "SM123"
    assert event.provider_event_id == f"SM123:{status}"


@pytest.mark.parametrize("status", ["accepted", "queued", "sending", "sent", "scheduled"])
def test_statuses_before_the_handset_make_no_event(status):
    assert parse(status_params("SM123", status)) == []


def test_error_code_is_kept_in_extra_and_reason():
    [event] = parse(status_params("SM123", "undelivered", ErrorCode="30005"))
    assert event.extra["error_code"] == "30005"
    assert "30005" in event.reason


def test_carrier_done_date_becomes_the_event_date():
    [event] = parse(status_params("SM123", "delivered", RawDlrDoneDate="2409211419"))
    assert event.occurred_at.isoformat() == "2024-09-21T14:19:00+00:00"


def test_unknown_status_is_a_parse_error():
    with pytest.raises(ValueError):
        parse(status_params("SM123", "teleported"))


@pytest.mark.parametrize("body", ["STOP", "  Stop ", "STOP please", "Hello", "yes"])
def test_inbound_sms_is_an_inbound_message_not_a_delivery_event(body):
    # Tracking and inbound are two streams: what a reply means is compliance.keywords' business.
    [inbound] = parse({**inbound_params(body), "NumSegments": "1"})
    assert isinstance(inbound, InboundMessage)
    assert (inbound.channel, inbound.sender, inbound.recipient, inbound.text) == (
        "sms", "34666555444", "15005550006", body,
    )  # fmt: skip
    assert (inbound.provider, inbound.provider_message_id, inbound.provider_account) == (
        "twilio", "SMinbound0001", ACCOUNT_SID,
    )  # fmt: skip
    assert inbound.extra == {"NumMedia": "0", "NumSegments": "1"}


def test_inbound_mms_keeps_its_media_urls():
    params = {
        **inbound_params("look"),
        "NumMedia": "2",
        "MediaUrl0": "https://m.example/0",
        "MediaUrl1": "https://m.example/1",
    }
    [inbound] = parse(params)
    assert inbound.media == ("https://m.example/0", "https://m.example/1")


@pytest.mark.parametrize(
    "body", ["STOP", "stop", "  Stop ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOP please"]
)
def test_opt_out_replies_become_unsubscribed_events_for_the_replying_number(account, twilio_route, body):
    message = message_create(account, provider="twilio", provider_message_id="SM55", recipient="34666555444")
    assert post(form_request(INBOUND_URL, inbound_params(body))).status_code == 200
    inbound_webhooks_process()
    event = Event.objects.get(message=message)
    assert event.type == "unsubscribed"
    assert event.extra["recipient"] == "34666555444"
    assert event.extra["channel"] == "sms"
    assert event.provider == "twilio"
    assert event.provider_event_id == "SMinbound0001:reply"


@pytest.mark.parametrize("body", ["Hello", "yes", "Stopwatch"])
def test_other_replies_make_no_event(account, twilio_route, body):
    message_create(account, provider="twilio", provider_message_id="SM55", recipient="34666555444")
    assert post(form_request(INBOUND_URL, inbound_params(body))).status_code == 200
    inbound_webhooks_process()
    assert not Event.objects.exists()
    assert InboundWebhook.objects.get().processed_at is not None


def test_signature_matches_twilios_published_example():
    # The example of Twilio's "Webhooks security" documentation.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


# Webhooks end to end ----------------------------------------------------------------------------


class TestTwilioWebhookContract(WebhookSignatureContract):
    provider = "twilio"

    def configure(self, account):
        ProviderRoute.objects.create(
            account=account,
            channel="sms",
            provider="twilio",
            settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        )

    def message_for(self, account):
        return message_create(account, provider="twilio", provider_message_id="SM0001")

    def delivered_report(self, message):
        return form_request(STATUS_URL, status_params(message.provider_message_id, "delivered"))

    def tampered(self, request):
        return WebhookRequest(
            request.path, request.body.replace(b"delivered", b"undelivered"), request.content_type, request.headers
        )

    def unsigned(self, request):
        return request.without_headers("X-Twilio-Signature")

    def wrong_secret(self, message):
        return form_request(STATUS_URL, status_params(message.provider_message_id, "delivered"), token="not-our-token")


@pytest.fixture
def twilio_route(account):
    return ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="twilio",
        settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
    )


def test_webhook_of_another_twilio_account_is_checked_with_that_accounts_token(twilio_route, other_user):
    other_sid = "AC" + "9" * 32
    ProviderRoute.objects.create(
        account=other_user.account,
        channel="sms",
        provider="twilio",
        settings={"account_sid": other_sid, "auth_token": "other-token"},
    )
    params = {**status_params("SM9", "delivered"), "AccountSid": other_sid}
    assert post(form_request(STATUS_URL, params, token="other-token")).status_code == 200
    assert post(form_request(STATUS_URL, params, token=AUTH_TOKEN)).status_code == 403


@override_settings(PUBLIC_URL="https://campaigns.example.com")
def test_signature_is_checked_against_public_url_not_the_proxied_host(twilio_route):
    params = status_params("SM1", "delivered")
    signed_for_public = sign(AUTH_TOKEN, "https://campaigns.example.com/webhooks/twilio/status", params)
    request = WebhookRequest(
        "/webhooks/twilio/status",
        urlencode(params).encode(),
        "application/x-www-form-urlencoded",
        {"X-Twilio-Signature": signed_for_public},
    )
    assert post(request).status_code == 200
    assert post(form_request(STATUS_URL, params)).status_code == 403


def test_get_on_the_webhook_is_not_allowed(twilio_route, client):
    assert client.get("/webhooks/twilio/status").status_code == 405


def test_unknown_provider_webhook_is_404(client):
    assert client.post("/webhooks/nosuchprovider/", data=b"{}", content_type="application/json").status_code == 404


def test_status_callback_from_the_fake_moves_a_dispatched_message_to_delivered(account, twilio_route, fake, provider):
    sid = provider.send(outbound())
    message = message_create(account, provider="twilio", provider_message_id=sid)
    url, params, headers = fake.status_callback(sid, "delivered")
    request = WebhookRequest(
        url.removeprefix("http://localhost:8000"),
        urlencode(params).encode(),
        "application/x-www-form-urlencoded",
        headers,
    )
    assert post(request).status_code == 200
    inbound_webhooks_process()
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_late_undelivered_never_overwrites_delivered(account, twilio_route):
    message = message_create(account, provider="twilio", provider_message_id="SM77")
    post(form_request(STATUS_URL, status_params("SM77", "delivered")))
    post(form_request(STATUS_URL, status_params("SM77", "undelivered", ErrorCode="30003")))
    inbound_webhooks_process()
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    message.sending.refresh_from_db()
    assert (message.sending.delivered, message.sending.undelivered) == (1, 0)


def test_stop_reply_blacklists_the_number_on_the_sms_channel(account, twilio_route):
    message = message_create(account, provider="twilio", provider_message_id="SM55", recipient="34666555444")
    response = post(form_request(INBOUND_URL, inbound_params("STOP")))
    assert response.status_code == 200
    inbound_webhooks_process()
    event = Event.objects.get(message=message)
    assert event.type == "unsubscribed"
    assert BlacklistEntry.objects.filter(account=account, type="sms", recipient="34666555444").exists()


def test_unparseable_twilio_webhook_keeps_its_error_and_is_not_dropped(account, twilio_route):
    params = {"AccountSid": ACCOUNT_SID, "Foo": "bar"}
    assert post(form_request(STATUS_URL, params)).status_code == 200
    inbound_webhooks_process()
    row = InboundWebhook.objects.get()
    assert row.processed_at is None
    assert "MessageSid" in row.error
    # A later run does not pick it up again, nor lose it.
    assert inbound_webhooks_process() == 0
    assert InboundWebhook.objects.filter(pk=row.pk).exists()


def test_event_date_of_a_callback_without_timestamp_is_when_it_was_received(account, twilio_route):
    message = message_create(account, provider="twilio", provider_message_id="SM88")
    post(form_request(STATUS_URL, status_params("SM88", "delivered")))
    received_at = InboundWebhook.objects.get().received_at
    inbound_webhooks_process()
    assert Event.objects.get(message=message).date == received_at
    assert Message.objects.get(pk=message.pk).final_at <= timezone.now()


# Landing SMS are SMS ----------------------------------------------------------------------------


def test_twilio_carries_landing_sms_and_other_providers_stay_on_their_channels():
    from messaging.services import providers_for_channel

    assert "twilio" in providers_for_channel("landing")
    assert "smtp" not in providers_for_channel("landing")


def test_admin_route_form_refuses_a_provider_that_does_not_carry_the_channel(account):
    from messaging.admin import ProviderRouteForm

    def form(channel: str, provider: str) -> ProviderRouteForm:
        return ProviderRouteForm(
            data={"account": account.pk, "channel": channel, "provider": provider, "settings": "{}"}
        )

    assert form("landing", "twilio").is_valid()
    refused = form("landing", "smtp")
    assert not refused.is_valid()
    assert refused.errors["provider"] == ["smtp does not carry landing messages."]


def test_a_landing_sms_goes_out_through_twilio_and_its_callbacks_and_stop_replies_apply(account, api_client, fake):
    from messaging import dispatch
    from messaging.services import provider_route_set

    route = provider_route_set(account=account, channel="landing", provider="twilio")
    route.settings = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": fake.api_base}
    route.save()
    dispatch._provider_cache.clear()
    response = api_client.post(
        "/api/rest/landingsms",
        {
            "to": ["34666555444"],
            "message": "Our offer {LAND_URL}",
            "from": "ACME",
            "templateBody": "<html><body><h1>Offer</h1></body></html>",
        },
        format="json",
    )
    assert response.status_code == 202

    dispatch.dispatch_due()

    message = Message.objects.get(channel="landing")
    [taken] = fake.messages
    assert (message.status, message.provider, message.provider_message_id) == ("sent", "twilio", taken["sid"])
    assert (taken["to"], taken["from"], taken["body"]) == ("+34666555444", "ACME", message.body)
    url, params, headers = fake.status_callback(taken["sid"], "delivered")
    body = urlencode(params).encode()
    path = url.removeprefix("http://localhost:8000")
    assert post(WebhookRequest(path, body, "application/x-www-form-urlencoded", headers)).status_code == 200
    assert post(form_request(INBOUND_URL, inbound_params("STOP"))).status_code == 200
    inbound_webhooks_process()
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert set(Event.objects.filter(message=message).values_list("type", flat=True)) >= {"delivered", "unsubscribed"}
    assert BlacklistEntry.objects.filter(account=account, type="sms", recipient="34666555444").exists()
