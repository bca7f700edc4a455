"""Tenant isolation, enumerated (issue 14 part 3).

Every route of the URL map that takes a parameter is found from the resolver itself (recursively;
the operators' /admin/ is left out: it is not an account's). Each must be in `TENANT_ROUTES`, whose
factory creates the object in account A, or in `NOT_TENANT_ROUTES` with the reason it holds no
account's object. A route added later without either fails `test_every_route_with_a_parameter_has_a_factory`
by itself, saying what to add.

For each route in the table, account B (its API credentials, or its staff user signed in) calls it with
A's id, by every method the route has: the API answers the envelope's 404 (`{"error": {"code": 404}}`),
staff pages 404; a method the route does not have may answer 405 (refused before any lookup). Then
every table of the database (but sessions, B's own credential and the price tables) is compared with a
snapshot taken before B's requests: nothing changed. Finally A makes the same request and does not get
a 404, so the factory built a real, reachable object and B's 404 means something.

Routes keyed by a type rather than an id (blacklists) hold the object in the body (`recipient`): B's
lists never show A's recipient and B's removal of it is a 404 (API) that changes nothing.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Account, User
from accounts.services import verified_sender_add
from compliance.models import FrequencyCap, QuietHours
from contacts.models import BlacklistEntry, ContactImport, ContactImportError
from contacts.services import contact_create, group_create
from content.models import AccountFile, TemplateVersion
from content.services import form_create, template_create
from messaging.models import Message
from tests.certificates.conftest import finish, send_mailing, send_sms
from tests.conftest import make_api_client
from tests.security.conftest import FIGURES
from validation.models import EmailValidation, ValidationStatus

pytestmark = pytest.mark.django_db

# Routes that take a parameter but hold no account's object, and why.
NOT_TENANT_ROUTES: dict[str, str] = {
    "provider": "webhooks/<provider>/: a provider name; webhooks are authenticated by the provider's signature",
    "content-form-page": "public form page: the HMAC-signed token is the authorisation (tampering answers 404)",
    "content-email-view": "public [show_link] page: HMAC-signed token",
    "content-file": "public attachment link: HMAC-signed token",
    "tracking-open": "open pixel: HMAC-signed token",
    "tracking-click": "click redirect: HMAC-signed token",
    "unsubscribe": "unsubscribe page: HMAC-signed token",
    "upload": "public images (image generator): the folder is an HMAC of the account, the name a SHA-256",
    "short-link": "public short link: a random code from secrets, public by design (it goes out in SMS)",
    "twiml": "TwiML for a call, fetched by Twilio: a signed, expiring token (voice.signing); bad or expired: 403",
    "gather": "a call's keypress callback from Twilio: a signed, expiring token and X-Twilio-Signature",
}


@dataclass
class World:
    a: Account
    b: Account
    a_api: Any
    b_api: Any
    a_web: Client
    b_web: Client


@dataclass
class Target:
    kwargs: dict[str, Any]
    # For routes keyed by a type: A's recipient, sent in the body, never shown to B.
    recipient: str | None = None


@dataclass(frozen=True)
class TenantRoute:
    factory: Callable[[World], Target]
    # None: every method the view has (API), GET and POST (staff pages).
    methods: tuple[str, ...] | None = None
    keyed_by_type: bool = False


# ---------------------------------------------------------------------------------------------
# Factories: each creates one object of account A and answers the route's kwargs.


def _contact(world: World) -> Target:
    group = group_create(account=world.a, name="A's customers")
    contact = contact_create(account=world.a, email="ana@a-example.com", groups_ids=[group.pk])
    return Target({"contact_id": contact.pk})


def _group(world: World) -> Target:
    group = group_create(account=world.a, name="A's group")
    contact_create(account=world.a, email="member@a-example.com", groups_ids=[group.pk])
    return Target({"group_id": group.pk})


def _sms(world: World) -> str:
    response = world.a_api.post(
        "/api/rest/sms", {"to": ["34666555444"], "from": "ACME", "message": "A's text"}, format="json"
    )
    assert response.status_code == 202, response.content
    return response.json()["result"][0]["id"]


def _sms_message(world: World) -> Target:
    return Target({"ids": _sms(world)})


def _sending(world: World) -> Target:
    public_id = _sms(world)
    return Target({"sending_id": Message.objects.get(public_id=public_id).sending_id})


def _sending_action(world: World) -> Target:
    return Target({**_sending(world).kwargs, "action": "cancel"})


def _sms_certificate(world: World) -> Target:
    public_id = send_sms(world.a_api)
    finish(public_id)
    return Target({"message_id": public_id})


def _mailing_certificate(world: World) -> Target:
    public_id = send_mailing(world.a_api)
    finish(public_id)
    return Target({"message_id": public_id})


def _template(version: int) -> Callable[[World], Target]:
    def factory(world: World) -> Target:
        template = template_create(account=world.a, version=version, name="A's template", html="<p>A</p>")
        return Target({"template_id": template.pk})

    return factory


def _form(world: World) -> Target:
    form = form_create(
        account=world.a,
        name="A's form",
        form_fields=[{"type": "text", "label": "Name", "customField": "name_a"}],
    )
    return Target({"form_id": form.pk})


def _validation(world: World) -> Target:
    validation = EmailValidation.objects.create(
        account=world.a,
        status=ValidationStatus.FINISHED,
        total=1,
        processed=1,
        price=Decimal("0.001"),
        currency="EUR",
        finished_at=timezone.now(),
    )
    return Target({"validation_id": validation.pk})


def _sender(world: World) -> Target:
    return Target({"sender_id": verified_sender_add(account=world.a, email="boss@a-example.com").pk})


def _frequency_cap(world: World) -> Target:
    cap = FrequencyCap.objects.create(account=world.a, channel="", max_messages=3, period_days=7)
    return Target({"cap_id": cap.pk})


def _quiet_hours(world: World) -> Target:
    window = QuietHours.objects.create(account=world.a, start=time(21), end=time(9))
    return Target({"quiet_hours_id": window.pk})


def _contact_import(world: World) -> Target:
    contact_import = ContactImport.objects.create(
        account=world.a, file="imports/a.csv", original_name="a.csv", total_rows=1, error_count=1
    )
    ContactImportError.objects.create(contact_import=contact_import, row_number=2, message="A's error")
    return Target({"import_id": contact_import.pk})


def _account_file(world: World) -> Target:
    stored = AccountFile.objects.create(account=world.a, name="a.pdf", file="files/a/a.pdf", size=1)
    return Target({"file_id": stored.pk})


def _blacklist(world: World) -> Target:
    BlacklistEntry.objects.create(account=world.a, type="sms", recipient="34666000111")
    return Target({"type": "sms"}, recipient="34666000111")


TENANT_ROUTES: dict[str, TenantRoute] = {
    # API under /api/rest/
    "api-contact-detail": TenantRoute(_contact),
    "api-group-detail": TenantRoute(_group),
    "api-sms-detail": TenantRoute(_sms_message),
    "api-sms-certificate": TenantRoute(_sms_certificate),
    "api-mailing-certificate": TenantRoute(_mailing_certificate),
    "api-sending-events-report": TenantRoute(_sending),
    "api-template-v1-detail": TenantRoute(_template(TemplateVersion.V1)),
    "api-template-v1-preview": TenantRoute(_template(TemplateVersion.V1)),
    "api-template-v2-detail": TenantRoute(_template(TemplateVersion.V2)),
    "api-template-v2-preview": TenantRoute(_template(TemplateVersion.V2)),
    "api-form-detail": TenantRoute(_form),
    "api-form-preview": TenantRoute(_form),
    "api-email-validation-detail": TenantRoute(_validation),
    "api-email-validation-result": TenantRoute(_validation),
    # PUT adds to the caller's own list (not A's): only the reads and the removal concern A's entry.
    "api-blacklist": TenantRoute(_blacklist, methods=("GET", "DELETE"), keyed_by_type=True),
    # Staff pages
    "settings-sender-remove": TenantRoute(_sender),
    "settings-cap-remove": TenantRoute(_frequency_cap),
    "settings-quiet-hours-remove": TenantRoute(_quiet_hours),
    "web-sending-detail": TenantRoute(_sending),
    "web-sending-chart": TenantRoute(_sending),
    "web-sending-status": TenantRoute(_sending),
    "web-sending-events-csv": TenantRoute(_sending),
    "web-sending-reschedule": TenantRoute(_sending),
    "web-sending-action": TenantRoute(_sending_action),
    "web-contact-detail": TenantRoute(_contact),
    "web-contact-edit": TenantRoute(_contact),
    "web-contact-delete": TenantRoute(_contact),
    "web-contact-consent": TenantRoute(_contact),
    "web-contact-consent-csv": TenantRoute(_contact),
    "web-group-update": TenantRoute(_group),
    "web-blacklist": TenantRoute(_blacklist, methods=("GET",), keyed_by_type=True),
    "web-blacklist-remove": TenantRoute(_blacklist, methods=("POST",), keyed_by_type=True),
    "web-contact-import-status": TenantRoute(_contact_import),
    "web-contact-import-status-json": TenantRoute(_contact_import),
    "web-contact-import-errors": TenantRoute(_contact_import),
    "content-template-edit": TenantRoute(_template(TemplateVersion.V2)),
    "content-template-preview": TenantRoute(_template(TemplateVersion.V2)),
    "content-template-delete": TenantRoute(_template(TemplateVersion.V2)),
    "content-form-edit": TenantRoute(_form),
    "content-form-preview": TenantRoute(_form),
    "content-form-delete": TenantRoute(_form),
    "content-file-delete": TenantRoute(_account_file),
}

# What an unsafe request would write if it reached A's object (every field any of the routes reads).
HOSTILE_BODY = {
    "name": "changed by B",
    "html": "<p>changed by B</p>",
    "email": "b@b-example.com",
    "surname": "B",
    "groupsIds": [],
    "formFields": [{"type": "text", "label": "B", "customField": "b"}],
    "action": "delete",
    "send_now": "1",
}

# Rows that B's requests may write without touching A: its own login session and credential use.
# The price tables are reference data nobody's request writes (and 1,900 rows to compare).
SNAPSHOT_SKIPPED = frozenset(
    {"sessions.session", "accounts.apicredential", "campaigns.smsprice", "campaigns.smsnetwork"}
)


# ---------------------------------------------------------------------------------------------
# The URL map


def _routes_with_parameters(
    resolver: URLResolver | None = None, prefix: str = ""
) -> Iterator[tuple[str, str | None, URLPattern]]:
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue  # the operators' admin site: not an account's pages
            yield from _routes_with_parameters(entry, route)
        elif entry.pattern.regex.groups:
            yield route, entry.name, entry


def _routes_missing_from_the_tables() -> tuple[dict[str, str], list[str]]:
    found = {name or route: route for route, name, _ in _routes_with_parameters()}
    return found, sorted(set(found) - set(TENANT_ROUTES) - set(NOT_TENANT_ROUTES))


def test_every_route_with_a_parameter_has_a_factory():
    found, missing = _routes_missing_from_the_tables()
    assert not missing, (
        "Routes with an id and no tenant-isolation factory: "
        + ", ".join(f"{name} ({found[name]})" for name in missing)
        + ". Add each to TENANT_ROUTES in tests/security/test_tenant_isolation.py with a factory that creates "
        "its object in account A (or to NOT_TENANT_ROUTES with the reason it holds no account's object)."
    )
    stale = sorted((set(TENANT_ROUTES) | set(NOT_TENANT_ROUTES)) - set(found))
    assert not stale, f"Routes listed in the isolation test that the URL map no longer has: {stale}"
    FIGURES["routes with a parameter"] = len(found)
    FIGURES["checked with a factory"] = len(TENANT_ROUTES)
    FIGURES["excluded (no account's object)"] = len(NOT_TENANT_ROUTES)


def test_a_route_with_an_id_added_later_without_a_factory_is_reported(settings):
    settings.ROOT_URLCONF = "tests.security.urls_with_a_new_route"
    _, missing = _routes_missing_from_the_tables()
    assert missing == ["web-invoice-detail"]


# ---------------------------------------------------------------------------------------------
# B gets 404 and changes nothing


@pytest.fixture
def world(api_user: User, other_user: User) -> World:
    a_web, b_web = Client(), Client()
    a_web.force_login(api_user)
    b_web.force_login(other_user)
    return World(
        a=api_user.account,
        b=other_user.account,
        a_api=make_api_client(api_user),
        b_api=make_api_client(other_user),
        a_web=a_web,
        b_web=b_web,
    )


def _snapshot() -> dict[str, list[dict]]:
    return {
        model._meta.label_lower: list(model._default_manager.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.label_lower not in SNAPSHOT_SKIPPED and not model._meta.proxy
    }


def _methods(name: str, route: TenantRoute, pattern: URLPattern) -> tuple[str, ...]:
    if route.methods is not None:
        return route.methods
    view_class = getattr(pattern.callback, "view_class", None)
    if name.startswith("api-") and view_class is not None:
        return tuple(
            method.upper() for method in ("get", "post", "put", "patch", "delete") if hasattr(view_class, method)
        )
    return ("GET", "POST")


def _call(client: Any, *, api: bool, method: str, url: str, body: dict) -> Any:
    send = getattr(client, method.lower())
    if method == "GET":
        return send(url)
    if api:
        return send(url, body, format="json")
    if method == "POST":
        return send(url, body)
    return send(url, body, content_type="application/json")


def _is_envelope_404(response: Any) -> bool:
    try:
        return response["Content-Type"].startswith("application/json") and response.json()["error"]["code"] == 404
    except (KeyError, ValueError):
        return False


@dataclass
class Outcome:
    answers: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _b_calls(world: World, name: str, route: TenantRoute, pattern: URLPattern, target: Target) -> Outcome:
    api = name.startswith("api-")
    url = reverse(name, kwargs=target.kwargs)
    body = {**HOSTILE_BODY, "recipient": target.recipient} if target.recipient else HOSTILE_BODY
    outcome = Outcome()
    for method in _methods(name, route, pattern):
        response = _call(world.b_api if api else world.b_web, api=api, method=method, url=url, body=body)
        outcome.answers[method] = response.status_code
        where = f"B {method} {url} -> {response.status_code}"
        if route.keyed_by_type and method == "GET":
            if response.status_code != 200 or target.recipient.encode() in response.content:
                outcome.problems.append(f"{where}: B's list must be answered without A's recipient")
        elif route.keyed_by_type and not api:
            continue  # a staff form answers with a message; the snapshot proves nothing changed
        elif response.status_code == 405:
            continue  # the route has no such method: refused before any lookup
        elif response.status_code != 404:
            outcome.problems.append(f"{where}: expected 404")
        elif api and not _is_envelope_404(response):
            outcome.problems.append(f"{where}: expected the envelope's 404, got {response.content[:200]!r}")
    return outcome


@pytest.mark.parametrize("name", sorted(TENANT_ROUTES))
def test_another_account_gets_404_and_changes_nothing(world, name):
    route = TENANT_ROUTES[name]
    pattern = next(entry for _, route_name, entry in _routes_with_parameters() if route_name == name)
    target = route.factory(world)
    before = _snapshot()

    outcome = _b_calls(world, name, route, pattern, target)

    FIGURES["requests by account B"] = FIGURES.get("requests by account B", 0) + len(outcome.answers)
    assert not outcome.problems, outcome.problems
    assert not route.keyed_by_type or outcome.answers.get("DELETE", 404) == 404
    changed = [table for table, rows in _snapshot().items() if rows != before[table]]
    assert not changed, f"B's requests to {name} changed account A's rows in {changed}"
    _assert_a_reaches_it(world, name, route, pattern, target, outcome)


def _assert_a_reaches_it(
    world: World, name: str, route: TenantRoute, pattern: URLPattern, target: Target, outcome: Outcome
) -> None:
    """A's own request, by the first method B was refused on, finds the object (no 404)."""
    api = name.startswith("api-")
    method = next(m for m in _methods(name, route, pattern) if outcome.answers[m] != 405)
    url = reverse(name, kwargs=target.kwargs)
    body = {**HOSTILE_BODY, "recipient": target.recipient} if target.recipient else {}
    response = _call(world.a_api if api else world.a_web, api=api, method=method, url=url, body=body)
    assert response.status_code != 404, f"A {method} {url} -> 404: the factory did not build a reachable object"
    if route.keyed_by_type and method == "GET":
        assert target.recipient.encode() in response.content
    if route.keyed_by_type and method == "POST":
        assert not BlacklistEntry.objects.filter(account=world.a, recipient=target.recipient).exists()
