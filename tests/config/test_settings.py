"""Settings come from the environment only; each case runs Django in a subprocess with a controlled
environment, because settings are read once per process."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.smtp_sink import SmtpSink

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Every variable config/settings.py reads; removed from the inherited environment so each case
# starts from the defaults.
SETTINGS_VARIABLES = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "PUBLIC_URL",
    "DATABASE_URL",
    "CONN_MAX_AGE",
    "REDIS_URL",
    "PYTEST_XDIST_WORKER",
    "Q_CLUSTER_NAME",
    "Q_WORKERS",
    "Q_TIMEOUT",
    "Q_RETRY",
    "Q_MAX_ATTEMPTS",
    "Q_SYNC",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "BEHIND_TLS_PROXY",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "API_PASSWORD_HMAC_KEY",
    "NUM_PROXIES",
    "DJANGO_SETTINGS_MODULE",
    "EMAIL_URL",
    "EMAIL_BACKEND",
]

# A production environment behind a TLS-terminating proxy: the variables an operator must set.
PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DEBUG": "0",
    "ALLOWED_HOSTS": "campaigns.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://campaigns.example.com",
    "PUBLIC_URL": "https://campaigns.example.com",
    "DATABASE_URL": "postgres://campaigns@db.internal:5432/campaigns",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "BEHIND_TLS_PROXY": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SESSION_COOKIE_SECURE": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in SETTINGS_VARIABLES}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_DIR, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def settings_under(env: dict[str, str]) -> dict:
    """The settings config/settings.py computes under `env` (without touching any service)."""
    code = (
        "import json\n"
        "from config import settings as s\n"
        "print(json.dumps({'caches': s.CACHES, 'q_cluster': s.Q_CLUSTER, 'debug': s.DEBUG,"
        " 'session_cookie_secure': s.SESSION_COOKIE_SECURE, 'csrf_cookie_secure': s.CSRF_COOKIE_SECURE,"
        " 'proxy_ssl_header': s.SECURE_PROXY_SSL_HEADER}))\n"
    )
    result = run_python(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_passes_with_the_production_environment():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_development_defaults():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], {})

    assert result.returncode != 0
    for check in ["security.W009", "security.W004", "security.W008", "security.W012"]:
        assert check in result.stderr, check


def test_redis_url_makes_redis_the_cache_and_the_task_broker():
    computed = settings_under({"REDIS_URL": "redis://redis.internal:6379/3"})

    assert computed["caches"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert computed["caches"]["default"]["LOCATION"] == "redis://redis.internal:6379/3"
    assert computed["q_cluster"]["redis"] == "redis://redis.internal:6379/3"
    assert "orm" not in computed["q_cluster"]


def test_without_redis_the_database_is_the_cache_and_the_task_broker():
    computed = settings_under({})

    assert computed["caches"]["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert computed["q_cluster"]["orm"] == "default"
    assert "redis" not in computed["q_cluster"]


@pytest.mark.parametrize(("env", "workers"), [({}, 2), ({"Q_WORKERS": "7"}, 7)])
def test_q_workers_sets_the_worker_count(env, workers):
    assert settings_under(env)["q_cluster"]["workers"] == workers


def test_task_retry_stays_longer_than_the_task_timeout_by_default():
    q_cluster = settings_under({})["q_cluster"]

    assert q_cluster["retry"] > q_cluster["timeout"]


def test_https_public_url_makes_cookies_secure_by_default():
    secure = settings_under({"PUBLIC_URL": "https://campaigns.example.com"})
    plain = settings_under({"PUBLIC_URL": "http://localhost:8000"})

    assert secure["session_cookie_secure"] is secure["csrf_cookie_secure"] is True
    assert plain["session_cookie_secure"] is plain["csrf_cookie_secure"] is False


def test_tls_proxy_header_is_trusted_only_when_behind_tls_proxy_is_set():
    assert settings_under({})["proxy_ssl_header"] is None
    assert settings_under({"BEHIND_TLS_PROXY": "1"})["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_debug_is_off_unless_asked_for():
    assert settings_under({})["debug"] is False
    assert settings_under({"DEBUG": "1"})["debug"] is True


EMAIL_NAMES = ["EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS",
               "EMAIL_USE_SSL", "EMAIL_TIMEOUT"]  # fmt: skip
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def settings_values(env: dict[str, str], names: list[str]) -> dict:
    """The named settings config/settings.py computes under `env`."""
    code = (
        "import json\nfrom config import settings as s\n"
        f"print(json.dumps({{name: getattr(s, name) for name in {names!r}}}))\n"
    )
    result = run_python(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def email_settings_under(env: dict[str, str]) -> dict:
    return settings_values(env, EMAIL_NAMES)


def test_email_url_configures_one_smtp_relay_with_starttls():
    computed = email_settings_under({"EMAIL_URL": "smtp+tls://relay%40example.com:p%40ss%3Aword@smtp.example.com:587"})

    assert computed == {
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "relay@example.com",
        "EMAIL_HOST_PASSWORD": "p@ss:word",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 30,
    }


def test_email_url_with_implicit_tls_and_a_timeout():
    computed = email_settings_under({"EMAIL_URL": "smtp+ssl://user:secret@smtp.example.com:465?timeout=5"})

    assert computed["EMAIL_BACKEND"] == SMTP_BACKEND
    assert (computed["EMAIL_PORT"], computed["EMAIL_USE_SSL"], computed["EMAIL_USE_TLS"]) == (465, True, False)
    assert computed["EMAIL_TIMEOUT"] == 5


def test_without_email_url_emails_go_to_the_console():
    computed = email_settings_under({})

    assert computed["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert (computed["EMAIL_HOST"], computed["EMAIL_PORT"], computed["EMAIL_HOST_USER"]) == ("localhost", 25, "")


def test_email_backend_wins_over_the_backend_of_email_url():
    computed = email_settings_under(
        {"EMAIL_URL": "smtp://smtp.example.com:25", "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend"}
    )

    assert computed["EMAIL_BACKEND"] == "anymail.backends.mailgun.EmailBackend"
    assert computed["EMAIL_HOST"] == "smtp.example.com"


def test_email_url_reaches_a_real_smtp_server():
    """The settings EMAIL_URL makes are the ones Django's SMTP backend connects with."""
    code = (
        "import django\ndjango.setup()\nfrom django.core.mail import send_mail\n"
        "send_mail('Relay test', 'Body', 'a@example.com', ['b@example.com'])\n"
    )
    with SmtpSink() as sink:
        result = run_python(["-c", code], {"EMAIL_URL": f"smtp://{sink.host}:{sink.port}?timeout=5"})

    assert result.returncode == 0, result.stderr
    assert [message.message["Subject"] for message in sink.messages] == ["Relay test"]
    assert sink.messages[0].rcpt_tos == ("b@example.com",)
