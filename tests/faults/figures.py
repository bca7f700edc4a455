"""The figures the fault suite measured, printed at the end of the run in pytest's terminal
summary (so they show without -s). A plugin registered by tests/conftest.py rather than hooks of
tests/faults/conftest.py: under pytest-xdist the controller, which prints the summary, never
loads the suite's conftest, so each worker hands its figures over when it finishes."""

from __future__ import annotations

import json
from typing import Any

import pytest

# scenario -> figure -> value, in the order they were recorded.
FIGURES: dict[str, dict[str, Any]] = {}
_WORKER_KEY = "fault_figures"


def figures_record(scenario: str, **values: Any) -> None:
    FIGURES.setdefault(scenario, {}).update(values)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_KEY] = json.dumps(FIGURES, default=str)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    for scenario, values in json.loads(getattr(node, "workeroutput", {}).get(_WORKER_KEY, "{}")).items():
        figures_record(scenario, **values)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault suite figures")
    for scenario, values in FIGURES.items():
        figures = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in values.items())
        terminalreporter.write_line(f"{scenario}: {figures}")
