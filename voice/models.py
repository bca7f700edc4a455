"""Voice: the price per started minute, the caller ids an account may call from, interactive menus
and the keys callees press.

A menu is a tree of `VoiceMenu` nodes: the root is what a callee hears first, and an option whose
action is `submenu` points at another node of the same account. Menus are written only through
`voice.services.voice_menu_create` / `voice_menu_replace` (and the admin, whose forms call the same
`voice_menu_clean`), so the spec's rules (codes 165-182, 192-193) hold wherever a menu is saved.
"""

from __future__ import annotations

from django.db import models

from accounts.models import Account
from voice.languages import GENDER_CHOICES, LANGUAGE_CHOICES


class VoicePrice(models.Model):
    """The platform's price of one started minute of an answered call to a country (`ZZ`: any
    other country). Unanswered calls cost nothing (the spec's retry policy)."""

    country_iso = models.CharField(max_length=2, unique=True, help_text='Two-letter ISO code; "ZZ" = every other.')
    country_name = models.CharField(max_length=100, blank=True, default="")
    price_per_minute = models.DecimalField(max_digits=10, decimal_places=5)
    currency = models.CharField(max_length=3, default="EUR")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country_iso"]
        verbose_name = "voice price"

    def __str__(self) -> str:
        return f"{self.country_iso}: {self.price_per_minute} {self.currency}/min"


class AccountVoicePrice(models.Model):
    """An account's own price per started minute to a country, overriding the platform price; in
    the account's currency."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="voice_prices")
    country_iso = models.CharField(max_length=2, help_text='Two-letter ISO code; "ZZ" = every other.')
    price_per_minute = models.DecimalField(max_digits=10, decimal_places=5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "country_iso"], name="uniq_account_voice_price")]
        ordering = ["account", "country_iso"]
        verbose_name = "account voice price"

    def __str__(self) -> str:
        return f"{self.account}: {self.country_iso} {self.price_per_minute}/min"


class CallerId(models.Model):
    """A number registered to an account as a caller id for calls to one country (the spec's
    `callers`: {"ES": "6123456789"}); set up by the operator ("contact the support department")."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="caller_ids")
    country_iso = models.CharField(max_length=2, help_text="Two-letter ISO code of the destination country.")
    number = models.CharField(max_length=20, help_text="Digits, as the spec's callers give it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "country_iso", "number"], name="uniq_caller_id"),
        ]
        ordering = ["account", "country_iso", "number"]
        verbose_name = "caller id"

    def __str__(self) -> str:
        return f"{self.account}: {self.country_iso} {self.number}"


class SpeechType(models.TextChoices):
    TTS = "tts", "Text to speech"
    AUDIO = "audio", "Audio file"


class MenuAction(models.TextChoices):
    SUBMENU = "submenu", "Play a sub-menu"
    TRANSFER = "transfer", "Transfer the call"
    OPT_OUT = "opt_out", "Opt out (voice blacklist)"
    REPEAT = "repeat", "Repeat this menu"
    HANGUP = "hangup", "Hang up"


MENU_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")


class VoiceMenu(models.Model):
    """One node of an interactive menu: a greeting (text spoken in `language` / `gender`, or an
    audio file) and up to twelve options; `speech_retries` more plays when no key is pressed within
    `speech_timeout_seconds`."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="voice_menus")
    name = models.CharField(max_length=150)
    speech_type = models.CharField(max_length=5, choices=SpeechType.choices, default=SpeechType.TTS)
    text = models.TextField(blank=True, default="", help_text="What is spoken (text to speech).")
    language = models.CharField(max_length=6, choices=LANGUAGE_CHOICES, blank=True, default="")
    gender = models.CharField(max_length=1, choices=GENDER_CHOICES, blank=True, default="")
    audio_url = models.URLField(max_length=2000, blank=True, default="", help_text="MP3 or WAV (audio file).")
    speech_retries = models.PositiveSmallIntegerField(default=1)
    speech_timeout_seconds = models.PositiveSmallIntegerField(default=5)
    # The node this one is a sub-menu of (empty: a root menu, what a send names).
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="children")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "name", "id"]
        verbose_name = "voice menu"

    def __str__(self) -> str:
        return self.name


class VoiceMenuOption(models.Model):
    """What pressing `key` does in `menu`."""

    menu = models.ForeignKey(VoiceMenu, on_delete=models.CASCADE, related_name="options")
    key = models.CharField(max_length=1)
    action = models.CharField(max_length=10, choices=MenuAction.choices)
    submenu = models.ForeignKey(VoiceMenu, on_delete=models.CASCADE, null=True, blank=True, related_name="entered_by")
    transfer_prefix = models.CharField(max_length=4, blank=True, default="", help_text="Country prefix, e.g. 34.")
    transfer_number = models.CharField(max_length=15, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["menu", "key"], name="uniq_voice_menu_key")]
        ordering = ["menu", "key"]
        verbose_name = "voice menu option"

    def __str__(self) -> str:
        return f"{self.menu}: {self.key} -> {self.action}"


class Keypress(models.Model):
    """A key a callee pressed in answer to a menu, for the keystroke report
    (`phonenumber,key,message`). Account and sending are copied from the message so the report is
    one indexed range read."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="keypresses")
    sending = models.ForeignKey("campaigns.Sending", on_delete=models.CASCADE, related_name="keypresses")
    message = models.ForeignKey("messaging.Message", on_delete=models.CASCADE, related_name="keypresses")
    menu = models.ForeignKey(VoiceMenu, on_delete=models.SET_NULL, null=True, blank=True, related_name="keypresses")
    key = models.CharField(max_length=1)
    recipient = models.CharField(max_length=20, help_text="The callee, international digits.")
    menu_text = models.TextField(blank=True, default="", help_text="What the menu said when the key was pressed.")
    pressed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["sending", "pressed_at"], name="keypress_sending_time")]
        ordering = ["pressed_at", "id"]

    def __str__(self) -> str:
        return f"{self.recipient} pressed {self.key}"
