"""Runs every benchmark in bench/ one after another: `python bench/run.py [name ...] [-- option ...]`.

Each script prints its own figures (ours vs a naive baseline vs the physical limit, as ratios).
Set DATABASE_URL to the PostgreSQL the figures should be measured on. Options after `--` go to
every selected script, e.g. `python bench/run.py group_send -- --contacts 200000 --repeat 1`.
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent


def ensure_database() -> None:
    """Create the PostgreSQL database DATABASE_URL names if it does not exist yet (each benchmark
    migrates it, or makes its own throwaway copy next to it)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main(arguments: list[str]) -> int:
    selected, options = arguments, []
    if "--" in arguments:
        split = arguments.index("--")
        selected, options = arguments[:split], arguments[split + 1 :]
    ensure_database()
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if selected:
        scripts = [script for script in scripts if any(name in script.stem for name in selected)]
    failures = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        completed = subprocess.run(
            [sys.executable, str(script), *options], cwd=BENCH_DIR.parent, env=os.environ.copy(), check=False
        )
        failures += completed.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
