"""Concurrent first downloads of one certificate issue it once (PostgreSQL, real transactions)."""

import pytest
from django.db import connection

from certificates.models import Certificate
from certificates.services import SMS_CHANNELS, certificate_for_download
from tests.certificates.conftest import finish, send_sms
from tests.otp.test_concurrency import run_at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions"),
]


def test_concurrent_first_downloads_issue_one_certificate_and_serve_the_same_digest(api_client, account):
    public_id = send_sms(api_client)
    finish(public_id)

    results = run_at_once(
        lambda _: certificate_for_download(account=account, public_id=public_id, channels=SMS_CHANNELS).digest,
        threads=4,
    )

    assert not [result for result in results if isinstance(result, Exception)], results
    assert len(set(results)) == 1
    assert Certificate.objects.get().digest == results[0]
