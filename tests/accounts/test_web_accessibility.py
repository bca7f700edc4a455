"""The sign-in, dashboard, compose and settings pages label every form control (a <label for> or
an aria-label) and keep ids unique, like the campaigns and contacts pages."""

import pytest
from django.test import Client

from accounts.models import User, VerifiedSender
from contacts.models import Group
from tests.contacts.test_web_accessibility import unlabelled

pytestmark = pytest.mark.django_db

SIGNED_IN_PAGES = [
    "/",
    "/compose/",
    "/compose/?channel=mailing",
    "/compose/?channel=landing",
    "/settings/",
    "/settings/password/",
    "/settings/api/",
    "/settings/senders/",
    "/settings/notifications/",
    "/settings/providers/",
]


def test_every_control_of_the_account_and_compose_pages_is_labelled(client, api_user: User, account):
    Group.objects.create(account=account, name="VIP")
    VerifiedSender.objects.create(account=account, email="news@example.com")
    sign_in = client.get("/login/")
    assert unlabelled(sign_in.content.decode()) == []
    web = Client()
    web.force_login(api_user)
    for url in SIGNED_IN_PAGES:
        response = web.get(url)
        assert response.status_code == 200, url
        assert unlabelled(response.content.decode()) == [], url
