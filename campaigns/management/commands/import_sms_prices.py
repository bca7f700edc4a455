from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.pricing import PRICE_CSV_HEADER, SHIPPED_PRICE_TABLE, PriceImportError, sms_prices_import


class Command(BaseCommand):
    help = (
        "Add or update SMS prices from a CSV with the columns "
        f"{','.join(PRICE_CSV_HEADER)}: a row with an empty mnc is a country's price, a row with an "
        "mnc one of its networks (empty cost: the country's price). All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path",
            help=f"The CSV file; the table shipped with the platform is {SHIPPED_PRICE_TABLE}.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="The file is the whole table: delete the countries (except ZZ) and networks it does not list.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            result = sms_prices_import(text=text, replace=options["replace"])
        except PriceImportError as exc:
            raise CommandError("Nothing imported:\n" + "\n".join(exc.errors)) from exc
        message = f"Imported {result.countries} countries and {result.networks} networks from {path}."
        if options["replace"]:
            message += f" Deleted {result.deleted_countries} countries and {result.deleted_networks} networks."
        self.stdout.write(self.style.SUCCESS(message))
