"""With production settings every staff page sends a Content-Security-Policy that refuses inline scripts,
nosniff, a referrer policy, frame denial and HSTS, and the session and CSRF cookies are Secure, SameSite=Lax
(the session one HttpOnly). Pages are enumerated from the URL map, so a page added later is checked too.
Stored HTML keeps its own sandbox policy. No template or static page holds an inline script or handler."""

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from contacts.models import Contact, Group
from content.models import Template
from content.previews import SANDBOX_CSP
from tests.config.test_settings import PRODUCTION_ENV, settings_values

PROJECT = Path(__file__).resolve().parents[2]
PASSWORD = "staff-password-for-headers"
SKIPPED_PREFIXES = ("api/", "^api/", "webhooks/", "admin/", "logout/")


@pytest.fixture
def production(settings):
    """What config/settings.py computes from PRODUCTION_ENV (test_production_environment_sets_these proves it)."""
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.ALLOWED_HOSTS = ["campaigns.example.com"]


@pytest.fixture
def browser(production, api_user) -> Client:
    api_user.set_password(PASSWORD)
    api_user.save()
    client = Client(HTTP_HOST="campaigns.example.com", HTTP_X_FORWARDED_PROTO="https")
    client.force_login(api_user)
    return client


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def assert_staff_headers(response, where: str) -> None:
    policy = directives(response["Content-Security-Policy"])
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], where
    assert policy["default-src"] == ["'self'"], where
    assert policy["frame-ancestors"] == ["'none'"], where
    assert policy["object-src"] == ["'none'"], where
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["Referrer-Policy"] == "same-origin", where
    assert response["X-Frame-Options"] == "DENY", where
    assert response["Strict-Transport-Security"].startswith("max-age=31536000"), where


def staff_pages_without_parameters() -> list[str]:
    def walk(patterns, prefix: str):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern)

    routes = walk(get_resolver().url_patterns, "")
    return sorted({"/" + route for route in routes if "<" not in route and not route.startswith(SKIPPED_PREFIXES)})


@pytest.mark.django_db
def test_every_staff_page_sends_the_security_headers_with_production_settings(browser, account):
    contact = Contact.objects.create(account=account, phone="34666555444", name="Ana")
    group = Group.objects.create(account=account, name="Customers")
    template = Template.objects.create(account=account, name="T", version=2, html="<p>Hi</p>")
    pages = [*staff_pages_without_parameters(), f"/contacts/{contact.pk}/", f"/content/templates/{template.pk}/"]
    checked = []
    for path in pages:
        response = browser.get(path)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        assert_staff_headers(response, path)
        checked.append(path)
    assert {"/", "/compose/", "/campaigns/", "/contacts/", "/content/", "/settings/", "/contacts/groups/"} <= set(
        checked
    ), checked
    assert f"/contacts/{contact.pk}/" in checked
    assert group.pk


@pytest.mark.django_db
def test_the_sign_in_page_the_admin_and_the_api_docs_send_them_too(browser, api_user):
    api_user.is_staff = api_user.is_superuser = True
    api_user.save()
    anonymous = Client(HTTP_HOST="campaigns.example.com", HTTP_X_FORWARDED_PROTO="https")

    for client, path in ((anonymous, "/login/"), (browser, "/admin/"), (browser, "/admin/contacts/contact/"),
                         (anonymous, "/api/docs/")):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        assert_staff_headers(response, path)


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(production):
    response = Client(HTTP_HOST="campaigns.example.com").get("/login/")

    assert response.status_code == 301
    assert response["Location"] == "https://campaigns.example.com/login/"


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_secure_and_same_site_lax(production, api_user):
    api_user.set_password(PASSWORD)
    api_user.save()
    client = Client(
        HTTP_HOST="campaigns.example.com",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_REFERER="https://campaigns.example.com/login/",
        enforce_csrf_checks=True,
    )

    page = client.get("/login/")
    csrf = page.cookies["csrftoken"]
    signed_in = client.post(
        "/login/", {"username": api_user.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf.value}
    )

    assert signed_in.status_code == 302
    session = signed_in.cookies["sessionid"]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert csrf["secure"] is True
    assert csrf["httponly"] is True
    assert csrf["samesite"] == "Lax"


def test_the_production_environment_sets_these():
    computed = settings_values(PRODUCTION_ENV, list(PRODUCTION_VALUES))

    assert computed == PRODUCTION_VALUES


PRODUCTION_VALUES = {
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "CSRF_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "CSRF_COOKIE_SAMESITE": "Lax",
    "SECURE_REFERRER_POLICY": "same-origin",
    "X_FRAME_OPTIONS": "DENY",
    "SECURE_CONTENT_TYPE_NOSNIFF": True,
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "DEBUG": False,
}


@pytest.mark.django_db
def test_stored_html_keeps_its_own_sandbox_policy(browser, account):
    template = Template.objects.create(account=account, name="T", version=2, html="<p>Hi</p>")

    response = browser.get(f"/content/templates/{template.pk}/preview/")

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == SANDBOX_CSP
    assert response["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.django_db
def test_json_answers_get_no_page_policy(browser):
    response = browser.get("/api/rest/nope")

    assert response["Content-Type"] == "application/json"
    assert "Content-Security-Policy" not in response


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def test_no_template_or_static_page_holds_an_inline_script_or_handler():
    files = [
        *PROJECT.glob("templates/**/*.html"),
        *PROJECT.glob("*/templates/**/*.html"),
        *PROJECT.glob("static/**/*.html"),
        *PROJECT.glob("*/static/**/*.html"),
    ]
    assert len(files) > 20
    offenders = [
        f"{path.relative_to(PROJECT)}: {match.group(0)[:60]}"
        for path in files
        for pattern in (INLINE_SCRIPT, INLINE_HANDLER, JAVASCRIPT_URL)
        for match in pattern.finditer(path.read_text())
    ]
    assert offenders == []
