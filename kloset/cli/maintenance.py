"""kloset maintenance: give back the space of data no snapshot uses (garbage collection and repacking)."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys

from kloset import ConfigError, MaintenanceReport

from . import render
from .context import Context

_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def duration(text: str) -> float:
    """Seconds from ``3600``, ``90m``, ``7d`` or ``1d12h``."""
    text = text.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{text!r} is not a duration: give seconds, or a number with a unit among s, m, h, "
                          "d and w (7d, 36h, 1d12h)")
    return sum(float(n) * _UNIT[u] for n, u in parts)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grace", type=str, default=None, metavar="DURATION",
                        help="delete a pack only once it has held nothing in use this long (default 7d; "
                             "0 deletes at once, safe only when no backup is running anywhere)")
    parser.add_argument("--threshold", type=float, default=None, metavar="FRACTION",
                        help="repack packs whose bytes in use fall below this fraction (default 0.5; 0: never)")
    parser.add_argument("--dry-run", action="store_true", help="report what would go, change nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace, context: Context) -> int:
    grace = None if args.grace is None else duration(args.grace)
    with context.open_store() as store:
        report = store.maintenance(grace=grace, threshold=args.threshold, dry_run=args.dry_run,
                                   progress=sys.stderr.isatty())
    if args.json:
        render.write_json(dataclasses.asdict(report))
    else:
        render.write_lines(describe(report))
    return 0


def describe(r: MaintenanceReport) -> list[str]:
    would = "would " if r.dry_run else ""
    lines = [f"{r.snapshots} snapshots use {render.size(r.live_bytes)} in {r.packs} packs ({r.states} states)"]
    if r.packs_deleted or r.orphans_deleted:
        lines.append(f"{would}delete {r.packs_deleted + r.orphans_deleted} packs "
                     f"({render.size(r.bytes_deleted)} of unused blobs"
                     + (f", {r.orphans_deleted} left by interrupted writes" if r.orphans_deleted else "") + ")")
    if r.packs_repacked:
        lines.append(f"{would}repack {r.packs_repacked} packs, moving {render.size(r.bytes_moved)} in use"
                     + ("" if r.dry_run else f" into {r.packs_written} new packs"))
    if r.packs_waiting or r.orphans_waiting:
        lines.append(f"{'would keep' if r.dry_run else 'kept'} {r.packs_waiting + r.orphans_waiting} packs "
                     f"({render.size(r.bytes_waiting)}) until their grace period ends")
    if not r.changed:
        lines.append("nothing to do")
    return lines
