"""The fault suite's frame: PostgreSQL only, every test bounded in time, worker processes always
stopped, the fake gateway, a live server that takes 50 clients at once, and the recorder of the figures
each scenario measured (tests.faults.figures prints them at the end of the run)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

from messaging import dispatch
from tests.fakes.http_gateway import FakeGateway
from tests.faults.figures import figures_record
from tests.faults.workers import DispatchWorker

# No test of the suite may run longer than this (seconds); each scales its work well below it.
TIME_LIMIT = 180


class FaultTestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the fault suite needs PostgreSQL (SKIP LOCKED, pg_terminate_backend, concurrent writers)")
    dispatch._provider_cache.clear()


@pytest.fixture(autouse=True)
def _time_limit(request) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise FaultTestTimeout(f"{request.node.name} ran longer than {TIME_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def workers() -> Iterator[list[DispatchWorker]]:
    """Append every worker a test starts: whatever happens, they are killed before the database
    is flushed."""
    started: list[DispatchWorker] = []
    yield started
    for worker in started:
        worker.kill()


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as fake:
        yield fake


class _ManyClientsWSGIServer(ThreadedWSGIServer):
    # Django's test server lets 10 connections wait for accept(); 50 clients at once overflow
    # that queue and some connections fail before any request is read.
    request_queue_size = 128


class _ManyClientsServerThread(LiveServerThread):
    server_class = _ManyClientsWSGIServer


@pytest.fixture
def server_url(transactional_db, settings) -> Iterator[str]:
    """A live server (one thread and database connection per request) taking 50 clients at once."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    thread = _ManyClientsServerThread("127.0.0.1", StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


@pytest.fixture
def fault_figures() -> Callable[..., None]:
    """`fault_figures(scenario, name=value, ...)` records what a scenario measured (printed at the
    end of the run by tests.faults.figures)."""
    return figures_record
