"""Load the spec's country rules (compliance/data/country_rules.json) into CountryRule.

Rows that already exist are left alone: operators edit them in the admin, and a re-run must not undo that."""

import json
from pathlib import Path

from django.db import migrations

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "country_rules.json"


def country_rules_load(apps, schema_editor):
    CountryRule = apps.get_model("compliance", "CountryRule")
    for row in json.loads(DATA_FILE.read_text(encoding="utf-8"))["countries"]:
        country = row.pop("country")
        CountryRule.objects.get_or_create(country=country, defaults=row)


def country_rules_unload(apps, schema_editor):
    CountryRule = apps.get_model("compliance", "CountryRule")
    countries = [row["country"] for row in json.loads(DATA_FILE.read_text(encoding="utf-8"))["countries"]]
    CountryRule.objects.filter(country__in=countries).delete()


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_settings_opt_in_default_stop_instruction")]

    operations = [migrations.RunPython(country_rules_load, country_rules_unload)]
