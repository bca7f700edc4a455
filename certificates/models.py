"""Certificates of certified messages (spec "Download certificates").

A certificate is issued once, when its message has reached a final state, and is then served
as stored: the canonical record (JSON text), its SHA-256 digest and the PDF built from them.
A later copy of the record (for instance the `record.json` embedded in the PDF) is checked by
hashing it and comparing with `digest`.
"""

from __future__ import annotations

from django.db import models

from accounts.models import Account
from messaging.models import Message


class Certificate(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="certificates", db_index=False)
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="certificate")
    # Exactly the text that was hashed: UTF-8 JSON with sorted keys and no insignificant spaces.
    record = models.TextField()
    digest = models.CharField(max_length=64, help_text="SHA-256 (hex) of the record's UTF-8 bytes.")
    pdf = models.BinaryField()
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["account", "issued_at"], name="certificate_account_issued")]

    def __str__(self) -> str:
        return f"certificate of {self.message_id}"
