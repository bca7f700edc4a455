"""What one SMS part costs an account, per destination country and network; the coverage listing.

The price table: one `SmsPrice` row per country (the country's price, shown as its "Default"
network) and one `SmsNetwork` row per mobile network (MCC + MNC), whose `cost` is empty when it
costs what its country costs. The shipped table (campaigns/data/sms_prices.csv, every country a phone
number can belong to with its networks) is loaded by migration 0005; operators edit it in the admin
or import a CSV of the same shape with `manage.py import_sms_prices` (`sms_prices_import`).

Price of a message to a country, in this order: the account's own price (AccountSmsPrice, for every
network of the country), else the highest platform price of the country (its own row or any of its
networks: a send does not know which network a number is on, so it never charges less than the
network could cost), else the price of country `ZZ` (numbers phonenumbers cannot place), else
FALLBACK_SMS_PRICE when even that row was deleted. Prices are in the account's currency (no
conversion: an operator who sells in another currency sets the account's prices). A message costs
`parts x price`; email has no price table yet and costs nothing. A certified message (the spec's
`certified: true`) costs `certification_fee()` more, SMS and email alike.

The table is read once per send (three small queries) and then answers from memory, so a million
recipients cost no query each.
"""

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

import phonenumbers
from babel.numbers import get_currency_symbol
from django.conf import settings
from django.db import transaction
from django.db.models import Max

from accounts.models import Account
from campaigns.models import PLATFORM_DEFAULT_COUNTRY, AccountSmsPrice, SmsNetwork, SmsPrice

FALLBACK_SMS_PRICE: Final = Decimal("0.10000")
COST_QUANTUM: Final = Decimal("0.00001")  # Message.cost and Sending.cost keep 5 decimals
SHIPPED_PRICE_TABLE: Final = Path(__file__).resolve().parent / "data" / "sms_prices.csv"
PRICE_CSV_HEADER: Final = ["country_iso", "country_name", "mcc", "mnc", "network", "cost"]
DEFAULT_NETWORK_NAME: Final = "Default"


class SmsPriceTable:
    """An account's price per SMS part for every country, in memory."""

    def __init__(self, *, prices: dict[str, Decimal], default: Decimal, currency: str) -> None:
        self._prices = prices
        self.default = default
        self.currency = currency

    def price(self, country_iso: str | None) -> Decimal:
        return self._prices.get((country_iso or "").upper(), self.default)

    def cost(self, country_iso: str | None, parts: int) -> Decimal:
        return (self.price(country_iso) * parts).quantize(COST_QUANTUM)

    @property
    def cheapest(self) -> Decimal:
        return min([self.default, *self._prices.values()])


def sms_price_table(*, account: Account) -> SmsPriceTable:
    prices = dict(SmsPrice.objects.values_list("country_iso", "cost"))
    network_maxima = (
        SmsNetwork.objects.filter(cost__isnull=False).values("country_iso").annotate(top=Max("cost")).order_by()
    )
    for row in network_maxima:
        country = row["country_iso"]
        if country in prices:
            prices[country] = max(prices[country], row["top"])
    prices.update(AccountSmsPrice.objects.filter(account=account).values_list("country_iso", "cost"))
    default = prices.pop(PLATFORM_DEFAULT_COUNTRY, FALLBACK_SMS_PRICE)
    return SmsPriceTable(prices=prices, default=default, currency=account.currency)


def certification_fee(*, certified: bool) -> Decimal:
    """What certifying one message adds to its cost: settings.CERTIFIED_MESSAGE_PRICE (one price for
    every account, in the account's currency like the SMS prices), 0 for a message not certified.
    Read at pricing time, so a send and each of its fan-out chunks charge the configured fee."""
    if not certified:
        return Decimal(0)
    return Decimal(settings.CERTIFIED_MESSAGE_PRICE).quantize(COST_QUANTUM)


def phone_country(phone: str) -> str | None:
    """ISO country of an international number in digits (`34666555444` -> `ES`), None if unknown."""
    try:
        number = phonenumbers.parse("+" + phone, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region if region and region != PLATFORM_DEFAULT_COUNTRY else None


# ---------------------------------------------------------------------------------------------
# Coverage (GET /sms/coverage and /sms/coverageByCountry)


@dataclass(frozen=True)
class CoverageNetwork:
    country_iso: str
    country_name: str
    network_name: str
    mcc: str
    mnc: str | None  # None for the country's "Default" row
    cost: Decimal


@dataclass
class CoverageCountry:
    country_iso: str
    country_name: str
    networks: list[str]
    min_cost: Decimal
    max_cost: Decimal


def currency_symbol(code: str) -> str:
    return get_currency_symbol(code, locale="en")


def sms_coverage(*, account: Account) -> list[CoverageNetwork]:
    """Every priced country (its "Default" row first) and each of its networks, at the account's
    prices: an account price for a country applies to all of its networks."""
    overrides = dict(AccountSmsPrice.objects.filter(account=account).values_list("country_iso", "cost"))
    networks: dict[str, list[SmsNetwork]] = {}
    for network in SmsNetwork.objects.order_by("country_iso", "mcc", "mnc"):
        networks.setdefault(network.country_iso, []).append(network)
    rows: list[CoverageNetwork] = []
    for country in SmsPrice.objects.exclude(country_iso=PLATFORM_DEFAULT_COUNTRY).order_by("country_iso"):
        override = overrides.get(country.country_iso)
        name = country.country_name or country.country_iso
        rows.append(
            CoverageNetwork(
                country_iso=country.country_iso,
                country_name=name,
                network_name=DEFAULT_NETWORK_NAME,
                mcc=country.mcc,
                mnc=None,
                cost=override if override is not None else country.cost,
            )
        )
        for network in networks.get(country.country_iso, []):
            own = network.cost if network.cost is not None else country.cost
            rows.append(
                CoverageNetwork(
                    country_iso=country.country_iso,
                    country_name=name,
                    network_name=network.name,
                    mcc=network.mcc,
                    mnc=network.mnc,
                    cost=override if override is not None else own,
                )
            )
    return rows


def sms_coverage_by_country(*, account: Account) -> list[CoverageCountry]:
    """The coverage grouped by country: its network names (each once, without "Default") and the
    cheapest and dearest price of the country, its "Default" row included."""
    countries: dict[str, CoverageCountry] = {}
    for row in sms_coverage(account=account):
        country = countries.get(row.country_iso)
        if country is None:
            countries[row.country_iso] = CoverageCountry(
                country_iso=row.country_iso,
                country_name=row.country_name,
                networks=[],
                min_cost=row.cost,
                max_cost=row.cost,
            )
            continue
        if row.network_name not in country.networks:
            country.networks.append(row.network_name)
        country.min_cost = min(country.min_cost, row.cost)
        country.max_cost = max(country.max_cost, row.cost)
    return list(countries.values())


# ---------------------------------------------------------------------------------------------
# Import (manage.py import_sms_prices, the migration's shipped table)


class PriceImportError(ValueError):
    """The file cannot be imported; `errors` lists every problem with its line number."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""))


@dataclass(frozen=True)
class PriceImportResult:
    countries: int
    networks: int
    deleted_countries: int = 0
    deleted_networks: int = 0


_ISO = re.compile(r"^[A-Z]{2}$")
_MCC = re.compile(r"^\d{3}$")
_MNC = re.compile(r"^\d{2,3}$")


def _cost(raw: str, *, line: int, required: bool, errors: list[str]) -> Decimal | None:
    raw = raw.strip()
    if not raw:
        if required:
            errors.append(f"line {line}: a country row needs a cost.")
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        errors.append(f"line {line}: cost {raw!r} is not a number.")
        return None
    if not value.is_finite() or value < 0 or value != value.quantize(COST_QUANTUM) or value >= Decimal("100000"):
        errors.append(f"line {line}: cost {raw!r} must be 0 or more, below 100000, with at most 5 decimals.")
        return None
    return value


def sms_prices_parse(text: str) -> tuple[list[SmsPrice], list[SmsNetwork]]:
    """Country and network rows of a price CSV (PRICE_CSV_HEADER), unsaved; PriceImportError with
    every problem when any row is wrong, so a bad file changes nothing."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [column for column in PRICE_CSV_HEADER if column not in (reader.fieldnames or [])]
    if missing:
        raise PriceImportError([f"line 1: missing column(s): {', '.join(missing)}."])
    errors: list[str] = []
    countries: dict[str, SmsPrice] = {}
    networks: dict[tuple[str, str, str], SmsNetwork] = {}
    network_lines: dict[tuple[str, str, str], int] = {}
    for line, row in enumerate(reader, start=2):
        iso = (row["country_iso"] or "").strip().upper()
        mcc, mnc = (row["mcc"] or "").strip(), (row["mnc"] or "").strip()
        if not _ISO.match(iso):
            errors.append(f"line {line}: country_iso {iso!r} is not a two-letter code.")
            continue
        if (mcc and not _MCC.match(mcc)) or (mnc and not mcc):
            errors.append(f"line {line}: mcc {mcc!r} must be 3 digits.")
            continue
        if mnc and not _MNC.match(mnc):
            errors.append(f"line {line}: mnc {mnc!r} must be 2 or 3 digits.")
            continue
        cost = _cost(row["cost"] or "", line=line, required=not mnc, errors=errors)
        name = (row["network"] or "").strip()
        if not mnc:
            if iso in countries:
                errors.append(f"line {line}: country {iso} appears twice.")
                continue
            if cost is not None:
                countries[iso] = SmsPrice(
                    country_iso=iso, country_name=(row["country_name"] or "").strip()[:100], mcc=mcc, cost=cost
                )
            continue
        if not name:
            errors.append(f"line {line}: network {mcc}-{mnc} needs a name.")
            continue
        key = (iso, mcc, mnc)
        if key in networks:
            errors.append(f"line {line}: network {iso} {mcc}-{mnc} appears twice (first on line {network_lines[key]}).")
            continue
        networks[key] = SmsNetwork(country_iso=iso, mcc=mcc, mnc=mnc, name=name[:100], cost=cost)
        network_lines[key] = line
    known = set(countries) | set(
        SmsPrice.objects.filter(country_iso__in={k[0] for k in networks}).values_list("country_iso", flat=True)
    )
    for (iso, mcc, mnc), line in network_lines.items():
        if iso not in known:
            errors.append(f"line {line}: network {mcc}-{mnc} of {iso}, which has no country row.")
    if errors:
        raise PriceImportError(errors)
    return list(countries.values()), list(networks.values())


@transaction.atomic
def sms_prices_import(*, text: str, replace: bool = False) -> PriceImportResult:
    """Add or update every country and network of the CSV `text`. With `replace`, the file is the
    whole table: countries and networks it does not list are deleted (except `ZZ`, the price of
    numbers no country claims, unless the file has it). All or nothing."""
    countries, networks = sms_prices_parse(text)
    SmsPrice.objects.bulk_create(
        countries,
        update_conflicts=True,
        unique_fields=["country_iso"],
        update_fields=["country_name", "mcc", "cost", "updated_at"],
    )
    SmsNetwork.objects.bulk_create(
        networks,
        update_conflicts=True,
        unique_fields=["country_iso", "mcc", "mnc"],
        update_fields=["name", "cost", "updated_at"],
    )
    deleted_countries = deleted_networks = 0
    if replace:
        keep = {country.country_iso for country in countries} | {PLATFORM_DEFAULT_COUNTRY}
        deleted_countries, _ = SmsPrice.objects.exclude(country_iso__in=keep).delete()
        deleted_networks = _delete_networks_except(networks)
    return PriceImportResult(
        countries=len(countries),
        networks=len(networks),
        deleted_countries=deleted_countries,
        deleted_networks=deleted_networks,
    )


def _delete_networks_except(networks: Iterable[SmsNetwork]) -> int:
    keep = {(network.country_iso, network.mcc, network.mnc) for network in networks}
    stale = [
        pk for pk, *key in SmsNetwork.objects.values_list("pk", "country_iso", "mcc", "mnc") if tuple(key) not in keep
    ]
    deleted, _ = SmsNetwork.objects.filter(pk__in=stale).delete()
    return deleted
