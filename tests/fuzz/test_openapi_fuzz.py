"""Fuzzing in CI (issue 14 part 2): schemathesis against our own OpenAPI schema, on a live server.

The schema is the one drf-spectacular serves at /api/schema/; the server is Django's WSGI application
on a threaded server bound to 127.0.0.1 in this process (no other address is ever contacted), on the
test database (transactional: the server's threads commit). The run is bounded and reproducible: a
fixed seed, derandomized generation, no example database, a fixed number of examples per operation,
one worker. It runs schemathesis' engine through its Python API (its pytest integration would make
one hypothesis test per operation, each fighting pytest-django over the database).

What it proves, over every request it made:
- no answer is a server error (5xx);
- every answer under /api/ is JSON, except a 2xx the schema documents with another media type (PDF
  certificates, CSV reports, HTML previews) and 204s;
- every status code an operation answers is documented in the schema for that operation, and a
  method an endpoint does not have answers 405 (JSON);
- no operation answers 2xx to a request with wrong or missing credentials (schemathesis' ignored_auth).

Schema-valid requests the API refuses (schemathesis' positive_data_acceptance) are printed, not
asserted: what remains are rules a schema cannot state (names already taken, unverified senders,
numbers that are not real phone numbers, ids of objects that do not exist).
"""

import collections
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django.urls import Resolver404, resolve
from schemathesis.engine import events, from_schema

from tests.conftest import API_PASSWORD
from tests.fuzz.conftest import FIGURES

SEED = 14
EXAMPLES_PER_OPERATION = 15
ALLOWED_NON_JSON = ("application/pdf", "text/csv", "text/html")


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # thousands of lines otherwise
        pass


def _closing_connections(app: WSGIHandler):
    """Each request thread closes its database connections when its answer is written, so none
    outlives the test (CONN_MAX_AGE would keep them open and block the test database's teardown)."""

    def wsgi(environ: dict, start_response: Any) -> Any:
        result = app(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            result.close()  # request_finished
            connections.close_all()

    return wsgi


@pytest.fixture
def api_server(transactional_db) -> Iterator[str]:
    server = make_server(
        "127.0.0.1",
        0,
        _closing_connections(WSGIHandler()),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Findings:
    requests: int = 0
    operations: set[str] = field(default_factory=set)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    failures: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    excluded: collections.Counter = field(default_factory=collections.Counter)

    def fail(self, kind: str, detail: str) -> None:
        self.failures[kind].append(detail)


def _documented(schema: dict, path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method.lower()]["responses"]


def _is_known_csrf_page(method: str, url: str, status: int, content_type: str) -> bool:
    """Issue 14 part 1 (fixed on another branch): a PUT / POST / DELETE to an unknown /api/ path
    (a path parameter the URL pattern refuses, e.g. /api/rest/groups/null) falls through to the
    catch-all and answers Django's HTML "CSRF verification failed" page instead of the JSON 404.
    Exactly those answers are left out here; remove this once that branch lands."""
    if method in ("GET", "HEAD", "OPTIONS", "TRACE") or status != 403 or not content_type.startswith("text/html"):
        return False
    try:
        return resolve(urlsplit(url).path).route == "^api/"
    except Resolver404:
        return False


def _judge(findings: Findings, schema: dict, case: Any, request: Any, response: Any) -> None:
    operation = case.operation
    label = f"{operation.method.upper()} {operation.path}"
    method = request.method.upper()
    where = f"{method} {request.uri}"
    findings.requests += 1
    findings.operations.add(label)
    if response is None:
        findings.fail("no answer", where)
        return
    status = response.status_code
    headers = {name.lower(): values for name, values in response.headers.items()}
    content_type = (headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
    findings.statuses[(method, status)] += 1
    if _is_known_csrf_page(method, request.uri, status, content_type):
        findings.excluded["CSRF page on an unknown /api/ path (issue 14 part 1)"] += 1
        return
    detail = f"{where} -> {status} {content_type}: {response.content[:160]!r}"
    if status >= 500:
        findings.fail("server error", detail)
    documented = _documented(schema, operation.path, operation.method)
    if method != operation.method.upper():
        # The coverage phase also tries the methods an endpoint does not have.
        if status not in (405, 200 if method == "OPTIONS" else 405):
            findings.fail("unexpected method not refused with 405", detail)
    elif str(status) not in documented:
        findings.fail(f"undocumented status code ({label})", detail)
    if status == 204 or not urlsplit(request.uri).path.startswith("/api/"):
        return
    media = documented.get(str(status), {}).get("content", {})
    if 200 <= status < 300 and content_type in ALLOWED_NON_JSON and content_type in media:
        return
    try:
        is_json = content_type == "application/json" and json.loads(response.content) is not None
    except ValueError:
        is_json = False
    if not is_json:
        findings.fail("non-JSON answer under /api/", detail)


def _config(base_url: str, username: str) -> schemathesis.Config:
    generation = {
        "mode": "all",
        "max-examples": EXAMPLES_PER_OPERATION,
        "deterministic": True,
        "database": "none",
        "no-shrink": True,
        # PostgreSQL cannot store NUL: the API refuses it with 422 everywhere (tests/config/test_nul_characters.py).
        "allow-x00": False,
    }
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "workers": 1,
            "continue-on-failure": True,
            "request-timeout": 30,
            "suppress-health-check": ["all"],
            "generation": generation,
            "auth": {"basic": {"username": username, "password": API_PASSWORD}},
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                "enabled": False,
                "ignored_auth": {"enabled": True},
                "positive_data_acceptance": {"enabled": True},
            },
        }
    )


def _figures(findings: Findings, positive_refusals: collections.Counter, elapsed: float, total_ops: int) -> list[str]:
    lines = [
        f"{findings.requests} requests in {elapsed:.0f} s (seed {SEED}, {EXAMPLES_PER_OPERATION} examples each)",
        f"operations covered: {len(findings.operations)} of {total_ops}",
        "answers: " + ", ".join(f"{m} {status}: {n}" for (m, status), n in sorted(findings.statuses.items())),
        f"failures: {sum(map(len, findings.failures.values()))}",
    ]
    for kind, details in sorted(findings.failures.items()):
        lines.append(f"  {kind}: {len(details)} (first: {details[0]})")
    for kind, n in findings.excluded.items():
        lines.append(f"excluded, known: {kind}: {n}")
    lines.append(f"schema-valid requests refused (printed, not asserted): {sum(positive_refusals.values())}")
    for (label, status), n in positive_refusals.most_common(12):
        lines.append(f"  {label} -> {status}: {n}")
    return lines


def test_fuzzing_the_openapi_schema_finds_no_server_error_non_json_answer_or_undocumented_status(
    api_server, api_user, settings
):
    # ignored_auth sends wrong credentials on purpose: the failure throttle must not turn the rest into 429s.
    settings.API_AUTH_MAX_FAILURES_PER_IP = 10**9
    settings.API_AUTH_MAX_FAILURES_PER_USER = 10**9
    raw_schema = requests.get(f"{api_server}/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw_schema, config=_config(api_server, api_user.username))
    total_ops = sum(1 for ops in raw_schema["paths"].values() for method in ops if method != "parameters")

    findings = Findings()
    positive_refusals: collections.Counter = collections.Counter()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError | events.NonFatalError):
            findings.fail("engine error", repr(getattr(event, "exception", None) or event.value))
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        for case_id, interaction in recorder.interactions.items():
            _judge(findings, raw_schema, recorder.cases[case_id].value, interaction.request, interaction.response)
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                interaction = recorder.interactions.get(case_id)
                status = interaction.response.status_code if interaction and interaction.response else None
                if check.name == "positive_data_acceptance":
                    positive_refusals[(recorder.label, status)] += 1
                else:
                    findings.fail(check.name, f"{recorder.label} -> {status}")
    FIGURES[:] = _figures(findings, positive_refusals, time.monotonic() - started, total_ops)
    print("\n".join(FIGURES))

    assert findings.requests > 1000
    assert len(findings.operations) == total_ops
    assert not findings.failures, {kind: details[:5] for kind, details in findings.failures.items()}
