"""GET /api/rest/sms/coverage and /sms/coverageByCountry: the SMS price table at the caller's prices."""

from decimal import Decimal

from django.urls import path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.pricing import (
    CoverageCountry,
    CoverageNetwork,
    currency_symbol,
    sms_coverage,
    sms_coverage_by_country,
)
from config.api import ApiView, data_response


def _money(value: Decimal) -> float:
    # The spec's costs are JSON numbers (0.065); normalize() drops the table's trailing zeros.
    return float(value.normalize())


def _network_to_dict(row: CoverageNetwork, *, currency: str, symbol: str) -> dict:
    return {
        "countryIso": row.country_iso,
        "countryName": row.country_name,
        "networkName": row.network_name,
        "mcc": row.mcc,
        "mnc": row.mnc,
        "cost": _money(row.cost),
        "currencyCode": currency,
        "currencySymbol": symbol,
    }


def _country_to_dict(row: CoverageCountry, *, currency: str, symbol: str) -> dict:
    return {
        "countryIso": row.country_iso,
        "countryName": row.country_name,
        "networks": row.networks,
        "minCost": _money(row.min_cost),
        "maxCost": _money(row.max_cost),
        "currencyCode": currency,
        "currencySymbol": symbol,
    }


class SmsCoverageView(ApiView):
    @extend_schema(
        tags=["Coverage"],
        operation_id="sms_coverage",
        summary="SMS coverage by network",
        description="Every country (its `Default` row, `mnc` null, is the country's price) and each of its "
        "mobile networks, with the price of one SMS part for the caller's account.",
        responses={200: OpenApiResponse(description="`data`: one object per network.")},
        examples=[
            OpenApiExample(
                "Coverage",
                response_only=True,
                value={
                    "data": [
                        {
                            "countryIso": "AD",
                            "countryName": "Andorra",
                            "networkName": "Default",
                            "mcc": "213",
                            "mnc": None,
                            "cost": 0.065,
                            "currencyCode": "EUR",
                            "currencySymbol": "€",
                        }
                    ]
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        currency = self.account.currency
        symbol = currency_symbol(currency)
        rows = sms_coverage(account=self.account)
        return data_response([_network_to_dict(row, currency=currency, symbol=symbol) for row in rows])


class SmsCoverageByCountryView(ApiView):
    @extend_schema(
        tags=["Coverage"],
        operation_id="sms_coverage_by_country",
        summary="SMS coverage by country",
        description="Every country with its network names and the cheapest and dearest price of one SMS part "
        "for the caller's account (a send is charged the dearest: the network of a number is not known).",
        responses={200: OpenApiResponse(description="`data`: one object per country.")},
        examples=[
            OpenApiExample(
                "Coverage by country",
                response_only=True,
                value={
                    "data": [
                        {
                            "countryIso": "AE",
                            "countryName": "United Arab Emirates",
                            "networks": ["Etisalat", "du"],
                            "minCost": 0.0868,
                            "maxCost": 0.0868,
                            "currencyCode": "EUR",
                            "currencySymbol": "€",
                        }
                    ]
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        currency = self.account.currency
        symbol = currency_symbol(currency)
        rows = sms_coverage_by_country(account=self.account)
        return data_response([_country_to_dict(row, currency=currency, symbol=symbol) for row in rows])


urlpatterns = [
    path("sms/coverage", SmsCoverageView.as_view(), name="api-sms-coverage"),
    path("sms/coverageByCountry", SmsCoverageByCountryView.as_view(), name="api-sms-coverage-by-country"),
]
