"""Set-based writes of many rows for the sending pipeline's hot paths (PostgreSQL).

Django binds parameters client-side: a 500-row UPDATE with ten columns quotes 5,000 values into
the SQL text in Python, which costs more than the database's own work. These helpers bind one
array per column instead (UPDATE ... FROM unnest(...), INSERT ... SELECT FROM unnest(...)) with
server-side binding, and a column whose value is the same in every row (a batch's status,
provider, timestamp) is bound once as a scalar rather than repeated in an array.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from django.db import connection


def pg_execute(sql: str, params: Sequence[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one statement with server-side parameter binding, in the current transaction."""
    return _run(sql, params)[0]


def _run(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
    import psycopg

    connection.ensure_connection()
    started = time.monotonic()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        count = cursor.rowcount
    if connection.queries_logged:
        # Visible to DEBUG logging and to tests counting queries, like Django's own cursors.
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows, count


def _split(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> tuple[list[str], list[str]]:
    first = rows[0]
    constant = [c for c in columns if all(row[c] == first[c] for row in rows)]
    varying = [c for c in columns if c not in constant]
    return constant, varying


def _bound(value: Any, kind: str) -> Any:
    return json.dumps(value) if kind == "jsonb" else value


def _array_kind(kind: str) -> str:
    # JSON goes over as text and is cast per row.
    return "text" if kind == "jsonb" else kind


def pg_update_rows(table: str, types: dict[str, str], rows: Sequence[dict[str, Any]], *, key: str = "id") -> int:
    """UPDATE `table` SET each column of `types` to each row's value WHERE key = row[key]; every
    row must have every column. Returns the number of rows updated."""
    if not rows:
        return 0
    columns = [c for c in types if c != key]
    constant, varying = _split(rows, columns)
    assignments = [f"{c} = %s::{types[c]}" for c in constant] + [f"{c} = v.{c}::{types[c]}" for c in varying]
    arrays = ", ".join([f"%s::{types[key]}[]"] + [f"%s::{_array_kind(types[c])}[]" for c in varying])
    sql = (
        f"UPDATE {table} AS t SET {', '.join(assignments)} "  # noqa: S608 - identifiers from model metadata
        f"FROM unnest({arrays}) AS v({', '.join([key, *varying])}) WHERE t.{key} = v.{key}"
    )
    params: list[Any] = [_bound(rows[0][c], types[c]) for c in constant]
    params.append([row[key] for row in rows])
    params.extend([_bound(row[c], types[c]) for row in rows] for c in varying)
    return _run(sql, params)[1]


def pg_insert_rows(
    table: str,
    types: dict[str, str],
    rows: Sequence[dict[str, Any]],
    *,
    on_conflict: str = "",
    returning: Sequence[str] = ("id",),
) -> list[tuple[Any, ...]]:
    """INSERT the rows (each with every column of `types`) in order and return `returning` of
    each row inserted (`on_conflict`, e.g. "ON CONFLICT (a, b) DO NOTHING", may skip some)."""
    if not rows:
        return []
    columns = list(types)
    constant, varying = _split(rows, columns)
    if not varying:  # one row, or identical rows: unnest still needs an array to count them
        varying = [columns[0]]
        constant = columns[1:]
    selected = [f"%s::{types[c]}" if c in constant else f"v.{c}::{types[c]}" for c in columns]
    arrays = ", ".join(f"%s::{_array_kind(types[c])}[]" for c in varying)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - identifiers from model metadata
        f"SELECT {', '.join(selected)} FROM unnest({arrays}) WITH ORDINALITY AS v({', '.join(varying)}, n) "
        f"ORDER BY n {on_conflict} RETURNING {', '.join(returning)}"
    )
    params: list[Any] = [_bound(rows[0][c], types[c]) for c in columns if c in constant]
    params.extend([_bound(row[c], types[c]) for row in rows] for c in varying)
    return pg_execute(sql, params)
