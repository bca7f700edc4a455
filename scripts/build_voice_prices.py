"""Build voice/data/voice_prices.csv, the shipped voice price table, from the shipped SMS one.

    python scripts/build_voice_prices.py > voice/data/voice_prices.csv

One row per country of campaigns/data/sms_prices.csv (its country rows, empty `mnc`) plus `ZZ`
(every other country). The price of a started minute is the country's SMS part price times
`MINUTE_PER_SMS_RATIO`: placeholders of a plausible size, not a provider's rates; operators replace
them in the admin or with `manage.py import_voice_prices` (see voice/data/SOURCE.md).
"""

import csv
import sys
from decimal import Decimal
from pathlib import Path

MINUTE_PER_SMS_RATIO = Decimal("1.5")
OTHER_COUNTRIES = ("ZZ", "Other countries", Decimal("0.15000"))
SMS_TABLE = Path(__file__).resolve().parent.parent / "campaigns" / "data" / "sms_prices.csv"


def main() -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["country_iso", "country_name", "price_per_minute"])
    with SMS_TABLE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["mnc"] or row["country_iso"] == OTHER_COUNTRIES[0]:
                continue
            price = (Decimal(row["cost"]) * MINUTE_PER_SMS_RATIO).quantize(Decimal("0.00001"))
            writer.writerow([row["country_iso"], row["country_name"], f"{price}"])
    writer.writerow([OTHER_COUNTRIES[0], OTHER_COUNTRIES[1], f"{OTHER_COUNTRIES[2]}"])


if __name__ == "__main__":
    main()
