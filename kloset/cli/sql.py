"""kloset sql: query the store's snapshots with SQL (tables in docs/sql.md)."""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
from typing import Any

import kloset

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


def render_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """An aligned text table: numbers to the right, everything else to the left."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows if r[i] is not None)
               for i in range(len(columns))]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _print(columns: list[str], rows: list[tuple[Any, ...]], args: argparse.Namespace) -> None:
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows([[_cell(v) for v in row] for row in rows])
    elif args.json:
        json.dump([{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows], sys.stdout,
                  ensure_ascii=False)
        sys.stdout.write("\n")
    elif columns:
        print(render_table(columns, rows))


def _prompt(store: kloset.Store, args: argparse.Namespace) -> int:
    """Read statements (ending with ';') until end of input; an error is shown and the prompt goes on."""
    interactive = sys.stdin.isatty()
    failed = 0
    buffer: list[str] = []
    while True:
        try:
            line = input(("kloset> " if not buffer else "   ...> ") if interactive else "")
        except EOFError:
            break
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if not text.endswith(";"):
            continue
        buffer = []
        try:
            columns, rows = store.sql_rows(text)
            _print(columns, rows, args)
        except kloset.KlosetError as e:
            print(f"kloset: error: {e}", file=sys.stderr)
            failed = e.exit_code
    rest = "\n".join(buffer).strip()
    if rest:  # a last statement without its ';'
        columns, rows = store.sql_rows(rest)
        _print(columns, rows, args)
    return failed


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        if args.query is None:
            return _prompt(store, args)
        columns, rows = store.sql_rows(args.query)
        _print(columns, rows, args)
    return 0
