"""Every staff page answers hostile query strings and form posts with a page or a redirect, never
a server error: NUL bytes (PostgreSQL text cannot hold them), ids past bigint and plain garbage."""

import pytest
from django.test import Client

from accounts.models import User
from tests.campaigns.conftest import contact
from tests.campaigns.test_web_campaigns import send

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = ["x\x00y", "99999999999999999999999", "-1", "2020-13-45T25:61", "' or 1=1 --"]
# Form posts are many (every field of every form): the two values that found server errors before.
POSTED_VALUES = HOSTILE_VALUES[:2]
QUERY_PARAMETERS = [
    "after", "before", "q", "page", "channel", "status", "name", "created_from", "created_to", "group",
    "country", "recipient", "event", "format", "custom_fields", "type", "sample", "template",
]  # fmt: skip
FORM_FIELDS = [
    "channel", "groups", "contacts", "pasted", "message", "encoding", "parts", "schedule_at", "expires_at",
    "when", "action", "guid", "recipient", "name", "email", "phone", "sms", "mailing", "landing", "allowed_ips",
    "event_notification_url", "column_0", "window_day_0", "window_from_0", "window_to_0", "sample", "template",
    "landing_template", "country_iso", "new_group",
]  # fmt: skip


@pytest.fixture
def web(api_user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(api_user)
    return client


def test_hostile_query_strings_and_posts_never_answer_a_server_error(web, api_client, account):
    contact(account, phone="34666555444", name="Ana")
    message = send(api_client, campaignName="Spring")
    sending = f"/campaigns/sendings/{message.sending_id}"
    pages = [
        "/", "/settings/", "/settings/api/", "/settings/senders/", "/settings/notifications/", "/settings/providers/",
        "/settings/password/", "/compose/", "/compose/contacts/", "/compose/template/", "/campaigns/",
        "/campaigns/sendings/", f"{sending}/", f"{sending}/chart/", f"{sending}/status.json", f"{sending}/events.csv",
        "/campaigns/scheduled/", "/contacts/", "/contacts/export/", "/contacts/groups/", "/contacts/blacklists/sms/",
        "/contacts/import/", f"/contacts/{message.contact_id}/",
    ]  # fmt: skip
    forms = [
        "/compose/", "/compose/audience/", "/compose/preview/", f"{sending}/reschedule/", f"{sending}/pause/",
        "/campaigns/scheduled/action/", "/contacts/new/", f"/contacts/{message.contact_id}/edit/", "/contacts/groups/",
        "/contacts/blacklists/sms/", "/contacts/blacklists/sms/remove/", "/contacts/import/mapping/",
        "/settings/api/", "/settings/senders/", "/settings/notifications/", "/settings/providers/",
    ]  # fmt: skip
    failures = []
    for value in HOSTILE_VALUES:
        for url in pages:
            status = web.get(url, dict.fromkeys(QUERY_PARAMETERS, value)).status_code
            if status >= 500:
                failures.append(("GET", url, value, status))
        if value not in POSTED_VALUES:
            continue
        for url in forms:
            for field in FORM_FIELDS:
                status = web.post(url, {"channel": "sms", field: value}).status_code
                if status >= 500:
                    failures.append(("POST", url, field, value, status))
    assert failures == []
