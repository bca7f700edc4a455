"""What an answered call costs: a price per started minute by destination country.

Price of a minute to a country, in this order: the account's own price (AccountVoicePrice), else
the platform price (VoicePrice), else the price of `ZZ` (numbers phonenumbers cannot place), else
FALLBACK_VOICE_PRICE when even that row was deleted. Prices are in the account's currency, like the
SMS prices. A call is charged by started minute of its real duration (61 s = 2 minutes); a call
nobody answered costs nothing; at accept the balance must cover one minute per call
(`VoicePriceTable.hold`).

The shipped table (voice/data/voice_prices.csv, loaded by migration voice/0002) holds placeholder
prices derived from the SMS table (see voice/data/SOURCE.md); operators replace them in the admin or
with `manage.py import_voice_prices`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from django.db import transaction

from accounts.models import Account
from voice.models import AccountVoicePrice, VoicePrice

FALLBACK_VOICE_PRICE: Final = Decimal("0.15000")
OTHER_COUNTRIES: Final = "ZZ"
COST_QUANTUM: Final = Decimal("0.00001")
SHIPPED_VOICE_PRICES: Final = Path(__file__).resolve().parent / "data" / "voice_prices.csv"
VOICE_PRICE_CSV_HEADER: Final = ["country_iso", "country_name", "price_per_minute"]


def started_minutes(duration_seconds: int) -> int:
    """Minutes billed for a call of this many seconds: every started minute; 0 s is 0 minutes."""
    return max(0, -(-int(duration_seconds) // 60))


class VoicePriceTable:
    """An account's price per started minute for every country, in memory (read once per send)."""

    def __init__(self, *, prices: dict[str, Decimal], default: Decimal, currency: str) -> None:
        self._prices = prices
        self.default = default
        self.currency = currency

    def price_per_minute(self, country_iso: str | None) -> Decimal:
        return self._prices.get((country_iso or "").upper(), self.default)

    def call_cost(self, country_iso: str | None, duration_seconds: int) -> Decimal:
        return (self.price_per_minute(country_iso) * started_minutes(duration_seconds)).quantize(COST_QUANTUM)

    def hold(self, country_iso: str | None) -> Decimal:
        """What accepting one call to this country needs on the balance: one minute."""
        return self.price_per_minute(country_iso).quantize(COST_QUANTUM)


def voice_price_table(*, account: Account) -> VoicePriceTable:
    prices = dict(VoicePrice.objects.values_list("country_iso", "price_per_minute"))
    prices.update(AccountVoicePrice.objects.filter(account=account).values_list("country_iso", "price_per_minute"))
    default = prices.pop(OTHER_COUNTRIES, FALLBACK_VOICE_PRICE)
    return VoicePriceTable(prices=prices, default=default, currency=account.currency)


class VoicePriceImportError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class VoicePriceImportResult:
    countries: int
    deleted: int


def voice_prices_parse(text: str) -> list[VoicePrice]:
    """Rows of a CSV with VOICE_PRICE_CSV_HEADER, or VoicePriceImportError listing every bad line."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or [name.strip() for name in reader.fieldnames] != VOICE_PRICE_CSV_HEADER:
        raise VoicePriceImportError([f"The header must be {','.join(VOICE_PRICE_CSV_HEADER)}."])
    rows: dict[str, VoicePrice] = {}
    errors: list[str] = []
    for line, row in enumerate(reader, start=2):
        country = (row["country_iso"] or "").strip().upper()
        if len(country) != 2 or not country.isalpha():
            errors.append(f"Line {line}: country_iso must be a two-letter ISO code.")
            continue
        try:
            price = Decimal((row["price_per_minute"] or "").strip())
        except InvalidOperation:
            errors.append(f"Line {line}: price_per_minute must be a number.")
            continue
        if price < 0 or price.as_tuple().exponent < -5 or price >= 100000:
            errors.append(f"Line {line}: price_per_minute must be between 0 and 99999.99999, 5 decimals at most.")
            continue
        if country in rows:
            errors.append(f"Line {line}: {country} is listed twice.")
            continue
        rows[country] = VoicePrice(
            country_iso=country, country_name=(row["country_name"] or "").strip()[:100], price_per_minute=price
        )
    if errors:
        raise VoicePriceImportError(errors)
    return list(rows.values())


def voice_prices_import(*, text: str, replace: bool = False) -> VoicePriceImportResult:
    """Add or update the platform's voice prices from CSV text, all or nothing. With `replace`, the
    file is the whole table: countries it does not list are deleted (except ZZ)."""
    prices = voice_prices_parse(text)
    with transaction.atomic():
        VoicePrice.objects.bulk_create(
            prices,
            update_conflicts=True,
            unique_fields=["country_iso"],
            update_fields=["country_name", "price_per_minute", "updated_at"],
        )
        deleted = 0
        if replace:
            listed = [price.country_iso for price in prices] + [OTHER_COUNTRIES]
            deleted, _ = VoicePrice.objects.exclude(country_iso__in=listed).delete()
    return VoicePriceImportResult(countries=len(prices), deleted=deleted)
