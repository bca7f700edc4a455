"""Provider webhooks skip the browser middleware.

A provider posting to /webhooks/ has no session, no CSRF token, no signed-in user, no flash
messages and no frames to guard against: its requests are authenticated by their signatures
(messaging.webhooks). Running sessions, CSRF, authentication, messages and clickjacking middleware
on each of them cost about a quarter of a webhook request's CPU (measured: ~89 -> ~64 µs per
request through the WSGI handler). This middleware sits right after SecurityMiddleware (so SSL
redirects and HSTS still apply) and calls the webhook view directly; every other path goes on
through the whole stack. Errors still become responses: Django wraps each middleware so that an
exception (an unknown path's Http404 included) is answered like any other.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import resolve

WEBHOOKS_PREFIX = "/webhooks/"


class WebhookShortcutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(WEBHOOKS_PREFIX):
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        # What CommonMiddleware would add: keep-alive clients need the length of the (empty) body.
        if not response.streaming and "Content-Length" not in response:
            response.headers["Content-Length"] = str(len(response.content))
        return response
