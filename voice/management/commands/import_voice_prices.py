from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from voice.pricing import SHIPPED_VOICE_PRICES, VOICE_PRICE_CSV_HEADER, VoicePriceImportError, voice_prices_import


class Command(BaseCommand):
    help = (
        f"Add or update voice prices (per started minute) from a CSV with the columns "
        f"{','.join(VOICE_PRICE_CSV_HEADER)}. All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", help=f"The CSV file; the table shipped with the platform is {SHIPPED_VOICE_PRICES}."
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="The file is the whole table: delete the countries (except ZZ) it does not list.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            result = voice_prices_import(text=text, replace=options["replace"])
        except VoicePriceImportError as exc:
            raise CommandError("Nothing imported:\n" + "\n".join(exc.errors)) from exc
        message = f"Imported {result.countries} voice prices from {path}."
        if options["replace"]:
            message += f" Deleted {result.deleted} countries."
        self.stdout.write(self.style.SUCCESS(message))
