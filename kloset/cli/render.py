"""How the command line shows things: sizes, times, aligned columns and JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

_UNITS = ("kB", "MB", "GB", "TB", "PB")


def size(n: int) -> str:
    """Decimal units, as df -H and Plakar print them."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1000
        if value < 1000 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def local_time(when: datetime | int) -> str:
    """A timestamp (a datetime, or integer nanoseconds since the epoch) in the local time zone."""
    if isinstance(when, int):
        when = datetime.fromtimestamp(when / 1e9, tz=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def iso_time(when: datetime | int) -> str:
    """A timestamp for JSON: ISO 8601 in UTC, so that it compares the same on every machine."""
    if isinstance(when, int):
        when = datetime.fromtimestamp(when / 1e9, tz=UTC)
    return when.astimezone(UTC).isoformat()


def files(n: int) -> str:
    """``1 file``, ``3 files``."""
    return f"{n} file{'s' if n != 1 else ''}"


def seconds(ns: int) -> str:
    return f"{ns / 1e9:.1f}s"


def table(rows: Sequence[Sequence[str]], right: Iterable[int] = (), header: Sequence[str] | None = None) -> list[str]:
    """Rows as lines of aligned columns; a header comes first, underlined. The last column is padded
    only when it is right-aligned, so that names there may be long."""
    body = [header, *rows] if header is not None else list(rows)
    if not body:
        return []
    right = set(right)
    last = len(body[0]) - 1
    widths = [max(len(r[i]) for r in body) for i in range(last + 1)]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) if i < last else c
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    lines = [line(r) for r in body]
    if header is not None:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def write_lines(lines: Iterable[str]) -> None:
    out = sys.stdout
    for line in lines:
        out.write(line + "\n")


def write_json(value: Any) -> None:
    """One JSON document (ASCII, so names that are not UTF-8 survive as escapes).

    A list is written one element per line, so it streams and still parses."""
    out = sys.stdout
    if isinstance(value, list):
        out.write("[")
        for i, item in enumerate(value):
            out.write(("\n" if i == 0 else ",\n") + json.dumps(item))
        out.write("\n]\n" if value else "]\n")
    else:
        out.write(json.dumps(value, indent=2) + "\n")
