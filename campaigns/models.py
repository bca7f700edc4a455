from django.db import models

from accounts.models import Account


class Channel(models.TextChoices):
    SMS = "sms"
    MAILING = "mailing"
    LANDING = "landing"
    # Planned channels; the model has room for them so adding them needs no schema change.
    VOICE = "voice"
    WHATSAPP = "whatsapp"


class CampaignType(models.TextChoices):
    BASIC = "basic"
    AUTOMATIC = "automatic"
    TRIGGER = "trigger"
    TESTAB = "testab"


class Campaign(models.Model):
    """A named bucket of sendings; the same `campaignName` in a send reuses it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=10, choices=CampaignType.choices, default=CampaignType.BASIC)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="uniq_campaign_name")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class Sending(models.Model):
    """One send request (API call or UI send) to one or many recipients on one channel."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sendings")
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="sendings")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.channel} sending {self.pk}"
