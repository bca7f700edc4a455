"""The outbound-URL guard is the only way the code makes an HTTP request: every first-party module
outside tests/ and bench/ is read (its syntax tree, so prose in docstrings does not count) and any
direct use of an HTTP client fails this test. Exempt: the guard itself and the provider modules
(messaging/providers/), which call the gateways operators configure, not URLs customers give."""

import ast
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = frozenset({"tests", "bench", "var", "node_modules", "static", "templates", "docs"})
EXEMPT = ("config/outbound.py", "messaging/providers/")
HTTP_CLIENT_MODULES = frozenset({"requests", "urllib3", "http.client", "urllib.request", "httpx", "aiohttp", "pycurl"})
HTTP_CLIENT_CALLS = frozenset({"urlopen", "HTTPConnection", "HTTPSConnection"})


def http_client_uses(source: str) -> list[str]:
    """Each direct HTTP client use in `source`: imports of a client module (any spelling), dynamic
    imports of one, and calls named like a client's entry points."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function in HTTP_CLIENT_CALLS:
                found.append(f"line {node.lineno}: {function}()")
            if function in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
        for name in names:
            if any(name == module or name.startswith(module + ".") for module in HTTP_CLIENT_MODULES):
                found.append(f"line {node.lineno}: {name}")
    return found


def first_party_modules() -> list[Path]:
    modules = []
    for path in sorted(PROJECT_DIR.rglob("*.py")):
        relative = path.relative_to(PROJECT_DIR)
        if relative.parts[0].startswith(".") or relative.parts[0] in SKIPPED_DIRS:
            continue
        if relative.as_posix().startswith(EXEMPT):
            continue
        modules.append(path)
    return modules


def test_no_module_but_the_guard_and_the_providers_uses_an_http_client_directly():
    modules = first_party_modules()
    offenders = {
        str(path.relative_to(PROJECT_DIR)): uses
        for path in modules
        if (uses := http_client_uses(path.read_text(encoding="utf-8")))
    }

    assert offenders == {}, "use config.outbound (get/head/post/request) instead"
    # The walk really read the apps (not an empty or wrong directory).
    read = {path.relative_to(PROJECT_DIR).as_posix() for path in modules}
    assert {"messaging/notifications.py", "validation/services.py", "campaigns/services.py"} <= read


@pytest.mark.parametrize(
    "source",
    [
        "import requests",
        "import urllib3.poolmanager",
        "from requests.adapters import HTTPAdapter",
        "from http import client",
        "from http.client import HTTPSConnection",
        "from urllib import request",
        "from urllib.request import urlopen",
        "import httpx as h",
        "importlib.import_module('requests')",
        "urlopen('http://x')",
        "http.client.HTTPConnection('x')",
    ],
)
def test_the_check_catches_every_spelling_of_a_direct_http_client(source):
    assert http_client_uses(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Answers over http.client, unsigned requests."""',
        "from config import outbound\noutbound.get('https://example.com/')",
        "from urllib.parse import urlsplit",
        "from http import HTTPStatus",
    ],
)
def test_the_check_lets_prose_the_guard_and_url_parsing_through(source):
    assert http_client_uses(source) == []
