"""POST /api/rest/sms with 500 recipients must answer in under a second.

Run from the repository root (the script creates and drops its own throwaway database
`bench_sendapi_<name>` next to the one in DATABASE_URL):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/campaigns python bench/bench_send_api.py

The request goes through the whole Django stack in-process (middleware, Basic authentication,
DRF, validation, contact matching, rendering, pricing, balance debit, COPY of the messages); no
HTTP server, so the figure is the application's own time. Measured: the first send (500 new
contacts to create), a second send to the same numbers (500 contacts matched), and a send with
`sub` variables and a notification URL per recipient. Each is the median of --repeat runs.
"""

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

RECIPIENTS = 500
TARGET_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=RECIPIENTS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import django
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    django.setup()
    settings.ALLOWED_HOSTS = ["*"]
    from django.db import connection

    if connection.vendor != "postgresql":
        print("note: not PostgreSQL; messages are written with bulk_create instead of COPY")
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
        f"bench_sendapi_{settings.DATABASES['default']['NAME']}"[:63] if connection.vendor == "postgresql" else None
    )
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(args.recipients, args.repeat)
    finally:
        connection.creation.destroy_test_db(database, verbosity=0)


def run(recipients: int, repeat: int) -> None:
    import base64

    from django.test import Client

    from accounts.services import api_user_provision
    from campaigns import outbox

    outbox.dispatch_kick_on_commit = lambda: None  # no dispatcher runs in this benchmark
    password = "bench-password-0123456789"
    api_user_provision(username="bench", api_password=password, account_name="Bench", balance=Decimal("1000000"))
    client = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"bench:{password}".encode()).decode())

    def numbers(offset: int) -> list[str]:
        return [f"34600{offset + index:06d}" for index in range(recipients)]

    def post(body: dict) -> float:
        started = time.perf_counter()
        response = client.post("/api/rest/sms", body, content_type="application/json")
        elapsed = time.perf_counter() - started
        if response.status_code != 202:
            raise SystemExit(f"unexpected answer {response.status_code}: {response.content[:300]!r}")
        return elapsed

    message = "Hola {name|capitalize}, tu pedido {order} sale hoy. Info: https://example.com/p"
    post({"to": ["34699999999"], "from": "BENCH", "message": "warm-up"})
    new_contacts, matched, with_sub = [], [], []
    for run_index in range(repeat):
        batch = numbers((run_index + 1) * 10_000)
        new_contacts.append(post({"to": batch, "from": "BENCH", "message": "Tu codigo de descuento es 2024"}))
        matched.append(post({"to": batch, "from": "BENCH", "message": "Tu codigo de descuento es 2024"}))
        with_sub.append(
            post(
                {
                    "to": batch,
                    "from": "BENCH",
                    "message": message,
                    "sub": [{"name": f"cliente {i}", "order": f"A{i:05d}"} for i in range(recipients)],
                    "notificationUrl": [f"https://example.com/n?i={i}&s=%s" for i in range(recipients)],
                    "campaignName": "bench",
                }
            )
        )

    print(f"POST /api/rest/sms with {recipients} recipients (median of {repeat}):")
    rows = [
        ("500 new numbers (contacts created)", new_contacts),
        ("same 500 numbers (contacts matched)", matched),
        ("sub + notificationUrl per recipient", with_sub),
    ]
    for label, times in rows:
        print(f"  {label:<40}{statistics.median(times) * 1000:>8.0f} ms   (max {max(times) * 1000:.0f} ms)")
    worst = max(statistics.median(times) for _label, times in rows)
    verdict = "met" if worst < TARGET_SECONDS else "NOT met"
    print(f"target < {TARGET_SECONDS:.0f} s: {verdict} (slowest median {worst * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
