"""Short links: the URL shortener's codes and the recipients' landing-page links.

Email open and click tracking needs no table: its links carry a signed token (tracking.links).
"""

from django.db import models

from accounts.models import Account


class ShortLinkKind(models.TextChoices):
    URL = "url"  # redirects (302) to long_url
    LANDING = "landing"  # serves one recipient's landing page (landing SMS, {LAND_URL})


class ShortLink(models.Model):
    """One short code. URL links are shared: one per (account, long URL), so shortening the same
    URL twice answers the same code and the SMS of a whole sending reuse it. Landing links belong
    to one message (one recipient) and carry that recipient's `sub` values."""

    code = models.CharField(max_length=16)
    # Null for links made by the `{url|shorten}` filter, which runs without an account.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True, related_name="short_links")
    kind = models.CharField(max_length=10, choices=ShortLinkKind.choices, default=ShortLinkKind.URL)
    long_url = models.URLField(max_length=2000, blank=True, default="")
    # sha256 of long_url: the dedupe key (a unique index on a 2,000-character column would not fit a btree page).
    url_hash = models.CharField(max_length=64, blank=True, default="")
    message_public_id = models.CharField(max_length=16, blank=True, default="")
    values = models.JSONField(default=dict, blank=True)
    clicks = models.PositiveIntegerField(default=0)
    last_clicked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code"], name="uniq_short_link_code"),
            models.UniqueConstraint(
                fields=["account", "url_hash"],
                condition=models.Q(kind="url"),
                nulls_distinct=False,
                name="uniq_short_link_account_url",
            ),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="short_link_account_newest")]

    def __str__(self) -> str:
        return f"{self.code} -> {self.long_url or self.message_public_id}"
