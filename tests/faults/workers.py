"""Real worker processes for the fault suite: started on the test database, read line by line,
and identified in PostgreSQL by their application_name so a test can drop their connections."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from django.db import connection

from tests.messaging.test_crash_safety import wait_until

PROJECT_DIR = Path(__file__).resolve().parents[2]


def database_env(**extra: str) -> dict[str, str]:
    """The environment of a process that works on this test run's database (pytest-django's
    `test_<name>`, visible to other processes because the fault tests commit)."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        **extra,
    }


class DispatchWorker:
    """One `tests.faults.dispatch_worker` process. Its output is drained by a thread (a full pipe
    would stall the worker) and kept as report lines; `application_name` tags its sessions."""

    def __init__(self, name: str, *arguments: str):
        self.name = name
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.dispatch_worker", *arguments],
            cwd=PROJECT_DIR,
            # libpq reads PGAPPNAME: every connection of the worker carries its name.
            env=database_env(PGAPPNAME=name),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("ready"):
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60.0) -> DispatchWorker:
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            raise AssertionError(f"{self.name} did not start: {self.output()}")
        return self

    def go(self) -> None:
        """Start the task of a `task` worker."""
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    @property
    def handled(self) -> int:
        return sum(int(line.split()[1]) for line in list(self.lines) if line.startswith("handled "))

    @property
    def errors(self) -> list[str]:
        return [line for line in list(self.lines) if line.startswith("error ")]

    def result(self, timeout: float = 60.0) -> str:
        """The `result ...` line of a task worker, once its process has ended."""
        self.process.wait(timeout)
        self._reader.join(10)
        results = [line for line in self.lines if line.startswith("result ")]
        if not results:
            raise AssertionError(f"{self.name} reported no result: {self.output()}")
        return results[-1]

    def output(self) -> str:
        return "\n".join(self.lines[-40:])

    def kill(self) -> None:
        """SIGKILL: no cleanup, no rollback by the worker, exactly a crash."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(10)

    def sessions(self) -> int:
        """PostgreSQL sessions this worker still has (a killed worker's end soon after)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [self.name])
            return cursor.fetchone()[0]

    def wait_sessions_gone(self, timeout: float = 30.0) -> None:
        """A killed client's backend may still finish its statement (even a COMMIT): wait until
        PostgreSQL has ended every session of the worker, so what it committed is settled."""
        wait_until(lambda: self.sessions() == 0, timeout)

    def terminate_sessions(self) -> int:
        """pg_terminate_backend on every session of the worker; returns how many it ended."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [self.name],
            )
            return cursor.fetchone()[0]


def dispatch_loop_start(name: str, *, claim_size: int, stale_after: float | None = None) -> DispatchWorker:
    """A worker dispatching without end, retrying failed messages at once (backoff 0)."""
    arguments = ["loop", str(claim_size), "--backoff", "0"]
    if stale_after is not None:
        arguments += ["--stale-after", str(stale_after)]
    return DispatchWorker(name, *arguments).wait_ready()
