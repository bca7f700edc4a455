"""The operators' admin pages for email validation: read-only views, deletion through the service
(a running job's hold goes back), and queueing a stuck job again."""

from decimal import Decimal

from django.urls import reverse

from validation import services
from validation.models import EmailValidation, VerifiedEmail
from validation.services import email_validation_create


def test_jobs_items_and_reuse_records_are_listed_and_shown(admin_client, account, dns_server):
    validation = email_validation_create(account=account, emails=["valid@example.com", "info@example.com"])
    services.email_validation_run(validation_id=validation.pk)
    for name in ("emailvalidation", "emailvalidationitem", "verifiedemail"):
        response = admin_client.get(reverse(f"admin:validation_{name}_changelist"))
        assert response.status_code == 200
    page = admin_client.get(reverse("admin:validation_emailvalidation_change", args=[validation.pk]))
    assert page.status_code == 200
    assert b"finished" in page.content
    record = VerifiedEmail.objects.get(email="info@example.com")
    assert admin_client.get(reverse("admin:validation_verifiedemail_change", args=[record.pk])).status_code == 200


def test_jobs_cannot_be_added_or_edited_in_the_admin(admin_client, account):
    validation = email_validation_create(account=account, emails=["a@example.com"])
    assert admin_client.get(reverse("admin:validation_emailvalidation_add")).status_code == 403
    url = reverse("admin:validation_emailvalidation_change", args=[validation.pk])
    admin_client.post(url, {"status": "finished"})
    validation.refresh_from_db()
    assert validation.status == "pending"


def test_deleting_a_running_job_in_the_admin_gives_its_hold_back(admin_client, account):
    validation = email_validation_create(account=account, emails=["a@example.com", "b@example.com"])
    services._start(validation_id=validation.pk, token="run")
    account.refresh_from_db()
    assert account.balance == Decimal("100") - Decimal("0.0070")
    response = admin_client.post(
        reverse("admin:validation_emailvalidation_changelist"),
        {"action": "delete_selected", "_selected_action": [validation.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not EmailValidation.objects.exists()
    account.refresh_from_db()
    assert account.balance == Decimal("100")


def test_queue_again_queues_only_pending_or_started_jobs(admin_client, account, _no_queue):
    pending = email_validation_create(account=account, emails=["a@example.com"])
    finished = email_validation_create(account=account, emails=["b@example.com"])
    EmailValidation.objects.filter(pk=finished.pk).update(status="finished")
    admin_client.post(
        reverse("admin:validation_emailvalidation_changelist"),
        {"action": "queue_again", "_selected_action": [pending.pk, finished.pk]},
    )
    assert _no_queue == [pending.pk]
