"""kloset sql: query the store's snapshots with SQL (tables in docs/sql.md)."""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
from typing import Any

import kloset

from . import render
from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", help="the SQL query; without one, queries are read from a prompt")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="print CSV with a header row")
    out.add_argument("--json", action="store_true", help="print a JSON array of objects")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # decimals, UUIDs, intervals


def _print(columns: list[str], rows: list[tuple[Any, ...]], args: argparse.Namespace) -> None:
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows([[_cell(v) for v in row] for row in rows])
    elif args.json:
        render.write_json([{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows])
    elif columns:
        numeric = [i for i in range(len(columns)) if all(_is_number(r[i]) for r in rows if r[i] is not None)]
        render.write_lines(render.table([[_cell(v) for v in row] for row in rows], right=numeric, header=columns))


def _run_one(store: kloset.Store, query: str, args: argparse.Namespace) -> None:
    columns, rows = store.sql_rows(query)
    _print(columns, rows, args)


def _prompt(store: kloset.Store, args: argparse.Namespace) -> int:
    """Read statements (ending with ';') until end of input; an error is shown and the prompt goes on."""
    interactive = sys.stdin.isatty()
    failed = 0
    buffer: list[str] = []
    while True:
        try:
            line = input(("kloset> " if not buffer else "   ...> ") if interactive else "")
        except EOFError:
            line = None
        if line is not None:
            buffer.append(line)
        text = "\n".join(buffer).strip()
        # A statement ends with its ';', or with the input (a last one without its ';').
        if text and (line is None or text.endswith(";")):
            buffer = []
            try:
                _run_one(store, text, args)
            except kloset.KlosetError as e:
                print(f"kloset: error: {e}", file=sys.stderr)
                failed = e.exit_code
        if line is None:
            return failed


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        if args.query is None:
            return _prompt(store, args)
        _run_one(store, args.query, args)
    return 0
