"""The shipped SMS price table, its CSV import (command and service), the admin, and how the
sending engine prices a message from it."""

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from campaigns.models import AccountSmsPrice, SmsNetwork, SmsPrice
from campaigns.pricing import (
    SHIPPED_PRICE_TABLE,
    PriceImportError,
    sms_price_table,
    sms_prices_import,
    sms_prices_parse,
)
from messaging.models import Message
from tests.campaigns.conftest import ES_PRICE, post_sms

pytestmark = pytest.mark.django_db

HEADER = "country_iso,country_name,mcc,mnc,network,cost\n"


def shipped_rows() -> list[dict]:
    with SHIPPED_PRICE_TABLE.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# The shipped table


def test_the_shipped_table_is_loaded_by_the_migrations_keeping_the_seed_prices():
    rows = shipped_rows()
    countries = [row for row in rows if not row["mnc"]]

    assert SmsPrice.objects.exclude(country_iso="ZZ").count() == len(countries) > 200
    assert SmsNetwork.objects.count() == len(rows) - len(countries) > 1000
    spain = SmsPrice.objects.get(country_iso="ES")
    assert (spain.cost, spain.country_name, spain.mcc) == (ES_PRICE, "Spain", "214")
    assert SmsNetwork.objects.filter(country_iso="ES", mcc="214", mnc="07", name="Movistar").exists()


def test_every_shipped_row_is_valid_and_every_country_has_one_price_row():
    text = SHIPPED_PRICE_TABLE.read_text(encoding="utf-8")

    countries, networks = sms_prices_parse(text)

    assert len({country.country_iso for country in countries}) == len(countries)
    assert all(country.mcc and country.country_name and country.cost > 0 for country in countries)
    assert {network.country_iso for network in networks} <= {country.country_iso for country in countries}


def test_the_table_notes_its_source_and_licence():
    notes = (SHIPPED_PRICE_TABLE.parent / "SOURCE.md").read_text(encoding="utf-8")

    assert "mcc-mnc-p1" in notes and "CC BY-SA" in notes and "AGPL" in notes


# ---------------------------------------------------------------------------------------------
# Import


def test_import_command_updates_prices_and_adds_networks(tmp_path, capsys):
    path = write_csv(
        tmp_path,
        "ES,Spain,214,,Default,0.05\nES,Spain,214,99,Test Mobile,0.07\nAD,Andorra,213,03,Andorra Telecom,\n",
    )

    call_command("import_sms_prices", str(path))

    assert SmsPrice.objects.get(country_iso="ES").cost == Decimal("0.05")
    assert SmsNetwork.objects.get(country_iso="ES", mnc="99").cost == Decimal("0.07")
    renamed = SmsNetwork.objects.get(country_iso="AD", mcc="213", mnc="03")
    assert (renamed.name, renamed.cost) == ("Andorra Telecom", None)
    assert SmsPrice.objects.filter(country_iso="FR").exists()  # not in the file: kept
    assert "Imported 1 countries and 2 networks" in capsys.readouterr().out


def test_import_with_replace_makes_the_file_the_whole_table_but_keeps_zz(tmp_path):
    path = write_csv(tmp_path, "ES,Spain,214,,Default,0.05\nES,Spain,214,01,Vodafone,\n")

    call_command("import_sms_prices", str(path), "--replace")

    assert sorted(SmsPrice.objects.values_list("country_iso", flat=True)) == ["ES", "ZZ"]
    assert list(SmsNetwork.objects.values_list("country_iso", "mnc")) == [("ES", "01")]


def test_importing_the_shipped_table_again_restores_rows_an_operator_deleted():
    SmsPrice.objects.filter(country_iso="BR").delete()
    SmsNetwork.objects.filter(country_iso="BR").delete()

    call_command("import_sms_prices", str(SHIPPED_PRICE_TABLE))

    assert SmsPrice.objects.filter(country_iso="BR").exists()
    assert SmsNetwork.objects.filter(country_iso="BR").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("E1,Spain,214,,Default,0.05\n", "line 3: country_iso 'E1' is not a two-letter code."),
        ("ES,Spain,21,,Default,0.05\n", "line 3: mcc '21' must be 3 digits."),
        ("ES,Spain,214,1,X,\n", "line 3: mnc '1' must be 2 or 3 digits."),
        ("ES,Spain,214,,Default,\n", "line 3: a country row needs a cost."),
        ("ES,Spain,214,,Default,cheap\n", "line 3: cost 'cheap' is not a number."),
        ("ES,Spain,214,,Default,-1\n", "line 3: cost '-1' must be 0 or more"),
        ("ES,Spain,214,,Default,0.000001\n", "line 3: cost '0.000001' must be 0 or more"),
        ("ES,Spain,214,01,,\n", "line 3: network 214-01 needs a name."),
        ("ES,Spain,214,,Default,1\nES,Spain,214,,Default,2\n", "line 4: country ES appears twice."),
        ("ES,Spain,214,01,A,\nES,Spain,214,01,B,\n", "line 4: network ES 214-01 appears twice (first on line 3)."),
        ("QQ,Nowhere,999,01,Ghost,\n", "line 3: network 999-01 of QQ, which has no country row."),
    ],
)
def test_a_bad_file_names_the_line_and_imports_nothing(tmp_path, body, message):
    # A good row first: the file is all or nothing.
    path = write_csv(tmp_path, "FR,France,208,,Default,0.01\n" + body)
    before = list(SmsPrice.objects.values_list("country_iso", "cost"))

    with pytest.raises(CommandError) as error:
        call_command("import_sms_prices", str(path))

    assert message in str(error.value)
    assert list(SmsPrice.objects.values_list("country_iso", "cost")) == before


def test_a_file_without_the_columns_or_unreadable_is_refused(tmp_path):
    with pytest.raises(PriceImportError, match="missing column"):
        sms_prices_import(text="country,price\nES,0.1\n")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_sms_prices", str(tmp_path / "missing.csv"))


def test_a_spreadsheet_export_with_a_byte_order_mark_is_read():
    result = sms_prices_import(text="\ufeff" + HEADER + "ES,Spain,214,,Default,0.06\n")

    assert result.countries == 1
    assert SmsPrice.objects.get(country_iso="ES").cost == Decimal("0.06")


# ---------------------------------------------------------------------------------------------
# The sending engine prices from the table


def test_a_send_pays_the_highest_price_of_the_destination_country(api_client, account):
    SmsNetwork.objects.filter(country_iso="ES", mnc="07").update(cost=Decimal("0.08"))

    post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})

    assert Message.objects.get(account=account).cost == Decimal("0.08000")


def test_an_account_price_wins_over_every_network_price(api_client, account):
    SmsNetwork.objects.filter(country_iso="ES", mnc="07").update(cost=Decimal("0.08"))
    AccountSmsPrice.objects.create(account=account, country_iso="ES", cost=Decimal("0.02"))

    post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})

    assert Message.objects.get(account=account).cost == Decimal("0.02000")


def test_the_price_table_answers_from_memory_after_three_queries(account, django_assert_num_queries):
    with django_assert_num_queries(3):
        table = sms_price_table(account=account)
    assert table.price("ES") == ES_PRICE
    assert table.price("AD") == Decimal("0.065")
    assert table.price(None) == SmsPrice.objects.get(country_iso="ZZ").cost


# ---------------------------------------------------------------------------------------------
# Admin


@pytest.mark.parametrize("model", [SmsPrice, SmsNetwork])
def test_price_admin_pages_render_and_search(admin_client, model):
    changelist = reverse(f"admin:campaigns_{model._meta.model_name}_changelist")
    obj = model.objects.filter(country_iso="ES").first()

    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(changelist, {"q": "Spain" if model is SmsPrice else "Movistar"}).status_code == 200
    change = reverse(f"admin:campaigns_{model._meta.model_name}_change", args=[obj.pk])
    assert admin_client.get(change).status_code == 200


def test_an_operator_edits_a_country_price_in_the_admin(admin_client, api_client, account):
    spain = SmsPrice.objects.get(country_iso="ES")
    url = reverse("admin:campaigns_smsprice_change", args=[spain.pk])
    data = {"country_iso": "ES", "country_name": "Spain", "mcc": "214", "cost": "0.03", "currency": "EUR"}

    assert admin_client.post(url, data).status_code == 302

    post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})
    assert Message.objects.get(account=account).cost == Decimal("0.03000")
