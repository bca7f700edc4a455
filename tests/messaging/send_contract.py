"""The send contract every per-message HTTP provider passes (beside provider_contract.py's webhook
contract), against its local fake server.

Subclass `ProviderSendContract` in a test module (name starting with "Test") and implement:
    start_fake()                      a started fake server (stopped by the contract)
    provider_for(fake, **settings)    the provider aimed at the fake (settings override the route's)
    outbound(message_id)              an OutboundMessage the fake accepts
    taken(fake)                       how many messages the fake has taken
    fail_next(fake, status, code)     make the fake answer the next send with that error
    delay_next(fake, seconds)         make the fake take the next message, then answer late
    secrets                           strings repr() must never show

The contract proves: accepted -> the provider's id; 429 / 5xx -> transient; other 4xx -> permanent;
401 / 403 -> transient (a route fault); no answer after the request was written -> `maybe_sent`,
unless `lookup()` finds the message at once, and `lookup()` finds it; a connection that never
opens -> transient, nothing sent; repr hides the secrets.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from messaging.providers.base import OutboundMessage, Provider, ProviderError
from messaging.providers.http import MAYBE_SENT


class ProviderSendContract:
    secrets: tuple[str, ...] = ()

    # To implement ---------------------------------------------------------------------------

    def start_fake(self) -> Any:
        raise NotImplementedError

    def provider_for(self, fake: Any, **settings: Any) -> Provider:
        raise NotImplementedError

    def outbound(self, message_id: int = 1) -> OutboundMessage:
        raise NotImplementedError

    def taken(self, fake: Any) -> int:
        raise NotImplementedError

    def fail_next(self, fake: Any, status: int, code: int) -> None:
        raise NotImplementedError

    def delay_next(self, fake: Any, seconds: float) -> None:
        raise NotImplementedError

    # The contract ---------------------------------------------------------------------------

    @pytest.fixture
    def fake(self):
        server = self.start_fake()
        yield server
        server.stop()

    def _refusal(self, fake: Any, status: int, code: int) -> ProviderError:
        self.fail_next(fake, status, code)
        with pytest.raises(ProviderError) as caught:
            self.provider_for(fake).send(self.outbound())
        return caught.value

    def test_an_accepted_message_returns_the_providers_id(self, fake) -> None:
        provider_id = self.provider_for(fake).send(self.outbound())
        assert provider_id
        assert self.taken(fake) == 1

    @pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500), (503, 20503)])
    def test_throttling_and_server_errors_are_transient(self, fake, status, code) -> None:
        error = self._refusal(fake, status, code)
        assert error.permanent is False
        assert error.code == str(code)

    @pytest.mark.parametrize(("status", "code"), [(400, 21211), (404, 20404), (422, 21000)])
    def test_other_client_errors_are_permanent(self, fake, status, code) -> None:
        error = self._refusal(fake, status, code)
        assert error.permanent is True
        assert error.code == str(code)

    @pytest.mark.parametrize(("status", "code"), [(401, 20003), (403, 20008)])
    def test_wrong_credentials_are_a_transient_route_fault(self, fake, status, code) -> None:
        assert self._refusal(fake, status, code).permanent is False

    def test_no_answer_after_writing_is_looked_up_and_found(self, fake) -> None:
        provider = self.provider_for(fake, timeout=0.3)
        self.delay_next(fake, 1.0)
        provider_id = provider.send(self.outbound())
        assert self.taken(fake) == 1
        assert provider.lookup(self.outbound()) == provider_id

    def test_no_answer_after_writing_and_no_lookup_is_maybe_sent(self, fake, monkeypatch) -> None:
        provider = self.provider_for(fake, timeout=0.3)
        monkeypatch.setattr(provider, "lookup", lambda message: None)
        self.delay_next(fake, 1.0)
        with pytest.raises(ProviderError) as caught:
            provider.send(self.outbound())
        assert (caught.value.code, caught.value.permanent) == (MAYBE_SENT, False)

    def test_a_provider_that_cannot_be_reached_is_transient_and_nothing_is_sent(self, fake) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        provider = self.provider_for(fake, api_base=f"http://127.0.0.1:{port}", connect_timeout=0.5)
        with pytest.raises(ProviderError) as caught:
            provider.send(self.outbound())
        assert caught.value.permanent is False and caught.value.code != MAYBE_SENT
        assert self.taken(fake) == 0

    def test_repr_hides_the_secrets(self, fake) -> None:
        text = repr(self.provider_for(fake))
        assert self.secrets and not any(secret in text for secret in self.secrets)

    def test_lookup_of_a_message_never_taken_is_none(self, fake) -> None:
        assert self.provider_for(fake).lookup(self.outbound()) is None
