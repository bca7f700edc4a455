"""A dispatching worker process for the fault suite, run on the test database as a django-q2
worker would run the project's dispatch code (`python -m tests.faults.dispatch_worker ...`).

Modes:
- `loop <claim size>`: call `messaging.dispatch.dispatch_due` over and over, like a cluster whose
  schedule and kicks never stop. Before each call it closes unusable connections, as django-q2's
  worker does before each task, and a call that raises is reported and followed by the next one
  (django-q2 records the failed task and carries on), so a dropped database connection costs
  the worker its batch, not its life.
- `task <signed package>`: run one django-q2 task package through django-q2's own worker loop
  (`django_q.worker.worker`), exactly as a cluster runs a task it took from the broker. It starts
  when a line arrives on stdin, so a test can start the process early and pick the moment.

Settings the fault tests need short (`--stale-after`, `--backoff`) are set after setup. Every line
it prints is one report: `ready`, `handled <n>`, `error <exception>`, `result <success> <value>`.
"""

import argparse
import sys
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["loop", "task"])
    parser.add_argument("argument")
    parser.add_argument("--stale-after", type=float)
    parser.add_argument("--backoff", type=float)
    args = parser.parse_args()
    django.setup()
    from django.conf import settings

    if args.stale_after is not None:
        settings.DISPATCH_STALE_AFTER_SECONDS = args.stale_after
    if args.backoff is not None:
        settings.DISPATCH_BACKOFF_SECONDS = args.backoff
    # Imported before `ready`, so a test's clock starts when the worker can claim at once.
    from django_q import worker  # noqa: F401

    from messaging import dispatch  # noqa: F401

    report("ready")
    if args.mode == "loop":
        loop(claim_size=int(args.argument))
    else:
        task(args.argument)


def report(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def loop(*, claim_size: int) -> None:
    from django.db import close_old_connections

    from messaging.dispatch import dispatch_due

    while True:
        close_old_connections()
        try:
            handled = dispatch_due(limit=claim_size)
        except Exception as exc:
            report(f"error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            time.sleep(0.05)
            continue
        if handled:
            report(f"handled {handled}")
        else:
            time.sleep(0.05)


def task(pack: str) -> None:
    from multiprocessing import Queue, Value

    from django_q.signing import SignedPackage
    from django_q.worker import worker

    sys.stdin.readline()
    tasks: Queue = Queue()
    results: Queue = Queue()
    tasks.put(SignedPackage.loads(pack))
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    done = results.get(timeout=10)
    report(f"result {done['success']} {done['result']}")


if __name__ == "__main__":
    main()
