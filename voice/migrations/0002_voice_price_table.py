import csv
from pathlib import Path

from django.db import migrations

SHIPPED_TABLE = Path(__file__).resolve().parent.parent / "data" / "voice_prices.csv"


def load_shipped_table(apps, schema_editor):
    """Every country of voice/data/voice_prices.csv that is not priced yet (operators' prices are kept)."""
    VoicePrice = apps.get_model("voice", "VoicePrice")
    with SHIPPED_TABLE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    existing = set(VoicePrice.objects.values_list("country_iso", flat=True))
    VoicePrice.objects.bulk_create(
        VoicePrice(country_iso=row["country_iso"], country_name=row["country_name"], price_per_minute=row["price_per_minute"])
        for row in rows
        if row["country_iso"] not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("voice", "0001_initial")]

    operations = [migrations.RunPython(load_shipped_table, migrations.RunPython.noop)]
