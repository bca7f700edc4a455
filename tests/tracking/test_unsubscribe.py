"""/u/<token>: the confirm page, the unsubscribe POST, RFC 8058 one-click, languages, tampering."""

import pytest
from django.test import Client

from campaigns.models import Sending
from contacts.models import BlacklistEntry, BlacklistType
from messaging.models import Event
from tracking.links import unsubscribe_url

from .conftest import path_of, sms_message


def test_get_asks_for_confirmation_and_changes_nothing(client, account):
    message = sms_message(account)
    page = client.get(path_of(unsubscribe_url(message.public_id)))
    assert page.status_code == 200
    text = page.content.decode()
    assert '<html lang="en">' in text
    assert "Do you want to stop receiving messages from ACME at *******5444?" in text
    assert '<form method="post">' in text and "Unsubscribe</button>" in text
    assert not Event.objects.exists() and not BlacklistEntry.objects.exists()


def test_post_unsubscribes_onto_the_channels_blacklist_and_confirms(client, account):
    message = sms_message(account)
    page = client.post(path_of(unsubscribe_url(message.public_id)))
    assert page.status_code == 200
    assert "You have been unsubscribed" in page.content.decode()
    assert BlacklistEntry.objects.filter(account=account, type=BlacklistType.SMS, recipient="34666555444").exists()
    event = Event.objects.get(message=message)
    assert event.type == "unsubscribed"
    assert Sending.objects.get(pk=message.sending_id).unsubscribed == 1


def test_page_speaks_the_accounts_language(client, account):
    account.language = "es"
    account.save(update_fields=["language"])
    message = sms_message(account)
    url = path_of(unsubscribe_url(message.public_id))
    assert "¿Quieres dejar de recibir mensajes de ACME" in client.get(url).content.decode()
    done = client.post(url).content.decode()
    assert '<html lang="es">' in done and "Te has dado de baja" in done


def test_unknown_language_falls_back_to_english(client, account):
    account.language = "xx"
    account.save(update_fields=["language"])
    message = sms_message(account)
    assert "Do you want to stop" in client.get(path_of(unsubscribe_url(message.public_id))).content.decode()


def test_one_click_post_needs_no_csrf_token_or_cookie(account):
    message = sms_message(account)
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        path_of(unsubscribe_url(message.public_id)),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert BlacklistEntry.objects.filter(account=account, recipient="34666555444").exists()


def test_repeated_unsubscribes_count_once_and_keep_the_recipient_blacklisted(client, account):
    message = sms_message(account)
    url = path_of(unsubscribe_url(message.public_id))
    client.post(url)
    BlacklistEntry.objects.all().delete()  # e.g. removed by the staff by mistake
    client.post(url)
    assert Event.objects.filter(type="unsubscribed").count() == 1
    assert Sending.objects.get(pk=message.sending_id).unsubscribed == 1
    assert BlacklistEntry.objects.filter(account=account, recipient="34666555444").exists()


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "X" + t, lambda t: "nodot"]
)
def test_tampered_token_is_404_for_get_and_post(client, account, mangle):
    message = sms_message(account)
    token = unsubscribe_url(message.public_id).rsplit("/", 1)[1]
    assert client.get(f"/u/{mangle(token)}").status_code == 404
    assert client.post(f"/u/{mangle(token)}").status_code == 404
    assert not BlacklistEntry.objects.exists()


def test_valid_signature_of_an_unknown_message_is_404(client, db):
    assert client.get(path_of(unsubscribe_url("0000000000000"))).status_code == 404


def test_other_methods_are_refused(client, account):
    message = sms_message(account)
    assert client.put(path_of(unsubscribe_url(message.public_id))).status_code == 405
