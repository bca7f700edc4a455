"""The admin shows a certificate's digest and whether its stored record still matches it."""

import pytest
from django.contrib.auth import get_user_model

from certificates.models import Certificate
from tests.certificates.conftest import finish, send_sms

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged(client):
    admin = get_user_model().objects.create_superuser(username="root", email="root@example.com", password="pw")
    client.force_login(admin)
    return client


def test_the_admin_lists_the_digest_and_serves_the_stored_pdf(api_client, admin_client_logged):
    public_id = send_sms(api_client)
    finish(public_id)
    pdf = api_client.get(f"/api/rest/sms/certificates/{public_id}").content
    certificate = Certificate.objects.get()

    listing = admin_client_logged.get("/admin/certificates/certificate/")
    detail = admin_client_logged.get(f"/admin/certificates/certificate/{certificate.pk}/change/")
    download = admin_client_logged.get(f"/admin/certificates/certificate/{certificate.pk}/pdf/")

    assert listing.status_code == 200 and certificate.digest in listing.content.decode()
    assert detail.status_code == 200 and certificate.digest in detail.content.decode()
    assert 'alt="True"' in detail.content.decode()  # the record still hashes to the digest
    assert download.status_code == 200 and download.content == pdf


def test_a_changed_record_shows_as_not_matching(api_client, admin_client_logged):
    public_id = send_sms(api_client)
    finish(public_id)
    api_client.get(f"/api/rest/sms/certificates/{public_id}")
    certificate = Certificate.objects.get()
    Certificate.objects.filter(pk=certificate.pk).update(record=certificate.record.replace("42", "43"))

    detail = admin_client_logged.get(f"/admin/certificates/certificate/{certificate.pk}/change/")

    assert 'alt="False"' in detail.content.decode()
