"""GET /api/rest/account: the caller's account."""

from django.urls import URLPattern, URLResolver, path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from config.api import ApiView, data_response, iso8601


def account_to_dict(user: User) -> dict:
    account = user.account
    return {
        "username": user.username,
        "email": user.email,
        "timezone": account.timezone,
        "language": account.language,
        "balance": float(account.balance),
        "createdAt": iso8601(account.created_at),
        "country": account.country,
        "currency": account.currency,
    }


class AccountView(ApiView):
    @extend_schema(
        tags=["Account"],
        operation_id="account_show",
        summary="Account",
        description="Username and email of the caller; time zone, language, balance, creation date, country and "
        "currency of its account. The balance is the sum of the account's ledger entries.",
        responses={200: OpenApiResponse(description="`data`: the account.")},
        examples=[
            OpenApiExample(
                "Account",
                response_only=True,
                value={
                    "data": {
                        "username": "acme",
                        "email": "it@acme.test",
                        "timezone": "Europe/Madrid",
                        "language": "es",
                        "balance": 100.5,
                        "createdAt": "2018-03-13T14:32:25+00:00",
                        "country": "ES",
                        "currency": "EUR",
                    }
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        # A fresh read: the balance moves with every send, and the user's cached account may be stale.
        request.user.account.refresh_from_db()
        return data_response(account_to_dict(request.user))


urlpatterns: list[URLPattern | URLResolver] = [
    path("account", AccountView.as_view(), name="api-account"),
]
