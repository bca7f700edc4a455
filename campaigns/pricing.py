"""What one SMS part costs an account, per destination country.

Lookup order for a country: the account's own price (AccountSmsPrice), then the platform price
(SmsPrice), then the platform price of country `ZZ` (every country without a row, and numbers
phonenumbers cannot place), then FALLBACK_SMS_PRICE when even that row was deleted. Prices are in
the account's currency (no conversion: an operator who sells in another currency sets the account's
prices). A message costs `parts x price`; email has no price table yet and costs nothing.

The table is read once per send (two small queries) and then answers from memory, so a million
recipients cost no query each.
"""

from decimal import Decimal
from typing import Final

import phonenumbers

from accounts.models import Account
from campaigns.models import PLATFORM_DEFAULT_COUNTRY, AccountSmsPrice, SmsPrice

FALLBACK_SMS_PRICE: Final = Decimal("0.10000")
COST_QUANTUM: Final = Decimal("0.00001")  # Message.cost and Sending.cost keep 5 decimals


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
    prices.update(AccountSmsPrice.objects.filter(account=account).values_list("country_iso", "cost"))
    default = prices.pop(PLATFORM_DEFAULT_COUNTRY, FALLBACK_SMS_PRICE)
    return SmsPriceTable(prices=prices, default=default, currency=account.currency)


def phone_country(phone: str) -> str | None:
    """ISO country of an international number in digits (`34666555444` -> `ES`), None if unknown."""
    try:
        number = phonenumbers.parse("+" + phone, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region if region and region != PLATFORM_DEFAULT_COUNTRY else None
