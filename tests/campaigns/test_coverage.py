"""GET /api/rest/sms/coverage and /sms/coverageByCountry: the spec's shapes, the shipped table, the
caller's own prices and currency."""

from decimal import Decimal

import phonenumbers
import pytest
from rest_framework.test import APIClient

from accounts.models import Account
from campaigns.models import AccountSmsPrice, SmsNetwork, SmsPrice

pytestmark = pytest.mark.django_db

COVERAGE = "/api/rest/sms/coverage"
BY_COUNTRY = "/api/rest/sms/coverageByCountry"
NETWORK_KEYS = ["countryIso", "countryName", "networkName", "mcc", "mnc", "cost", "currencyCode", "currencySymbol"]
COUNTRY_KEYS = ["countryIso", "countryName", "networks", "minCost", "maxCost", "currencyCode", "currencySymbol"]


def rows_of(client, url: str, country: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200
    return [row for row in response.json()["data"] if row["countryIso"] == country]


def test_coverage_lists_each_country_default_row_then_its_networks_in_the_spec_shape(api_client):
    andorra = rows_of(api_client, COVERAGE, "AD")

    assert all(list(row) == NETWORK_KEYS for row in andorra)
    assert andorra[0] == {
        "countryIso": "AD",
        "countryName": "Andorra",
        "networkName": "Default",
        "mcc": "213",
        "mnc": None,
        "cost": 0.065,
        "currencyCode": "EUR",
        "currencySymbol": "€",
    }
    networks = andorra[1:]
    assert networks and all(row["mcc"] == "213" and row["mnc"] and row["cost"] == 0.065 for row in networks)
    assert ("213", "03") in {(row["mcc"], row["mnc"]) for row in networks}


def test_coverage_by_country_gives_network_names_and_the_price_range_in_the_spec_shape(api_client):
    [emirates] = rows_of(api_client, BY_COUNTRY, "AE")

    assert list(emirates) == COUNTRY_KEYS
    assert emirates["countryName"] == "United Arab Emirates"
    assert {"Etisalat", "du"} <= set(emirates["networks"])
    assert "Default" not in emirates["networks"]
    assert (emirates["minCost"], emirates["maxCost"]) == (0.0868, 0.0868)
    assert (emirates["currencyCode"], emirates["currencySymbol"]) == ("EUR", "€")


def test_every_country_a_phone_number_can_belong_to_is_covered_and_zz_is_not_listed(api_client):
    countries = {row["countryIso"] for row in api_client.get(BY_COUNTRY).json()["data"]}

    assert countries == set(phonenumbers.SUPPORTED_REGIONS)
    assert "ZZ" not in countries


def test_network_names_are_listed_once_even_when_a_network_has_several_codes(api_client):
    SmsNetwork.objects.create(country_iso="AD", mcc="213", mnc="98", name="Som, Mobiland")

    [andorra] = rows_of(api_client, BY_COUNTRY, "AD")

    assert andorra["networks"].count("Som, Mobiland") == 1


def test_a_network_with_its_own_price_widens_the_country_range(api_client):
    network = SmsNetwork.objects.filter(country_iso="AE").order_by("mnc").first()
    network.cost = Decimal("0.12")
    network.save()

    [emirates] = rows_of(api_client, BY_COUNTRY, "AE")
    priced = [row for row in rows_of(api_client, COVERAGE, "AE") if row["mnc"] == network.mnc]

    assert (emirates["minCost"], emirates["maxCost"]) == (0.0868, 0.12)
    assert [row["cost"] for row in priced] == [0.12]


def test_an_account_price_applies_to_every_network_of_the_country_for_that_account_only(
    api_client, other_client, account
):
    AccountSmsPrice.objects.create(account=account, country_iso="AD", cost=Decimal("0.03"))
    SmsNetwork.objects.filter(country_iso="AD").update(cost=Decimal("0.2"))

    mine = rows_of(api_client, COVERAGE, "AD")
    theirs = rows_of(other_client, COVERAGE, "AD")

    assert {row["cost"] for row in mine} == {0.03}
    assert {row["cost"] for row in theirs} == {0.065, 0.2}
    assert rows_of(api_client, BY_COUNTRY, "AD")[0]["maxCost"] == 0.03


def test_costs_and_currency_are_the_accounts(api_client, account):
    Account.objects.filter(pk=account.pk).update(currency="USD")

    [spain] = rows_of(api_client, BY_COUNTRY, "ES")

    assert (spain["currencyCode"], spain["currencySymbol"]) == ("USD", "$")
    assert spain["minCost"] == float(SmsPrice.objects.get(country_iso="ES").cost)


@pytest.mark.parametrize("url", [COVERAGE, BY_COUNTRY])
def test_coverage_needs_credentials(db, url):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 103
