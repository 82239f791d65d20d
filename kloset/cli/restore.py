"""kloset restore: write a snapshot, or part of it, into a directory."""

from __future__ import annotations

import argparse
import sys

from kloset import IntegrityError, TransientError

from . import render
from .context import Context, resolve


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, metavar="DIR",
                        help="the directory, destination location or destination's @name[:subpath] to restore "
                        "into; Plakar's -to works too")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("snapshot", metavar="SNAP[:PATH]",
                        help="the snapshot (ID prefix or latest), and optionally the entry to restore")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        snap, path = resolve(store, args.snapshot)
        report = snap.restore(args.to, path, progress=not args.quiet and sys.stderr.isatty())
    for damaged, why in report.errors:
        print(f"kloset: {damaged}: {why}", file=sys.stderr)
    if not args.quiet:
        failed = f", {len(report.errors)} failed" if report.errors else ""
        print(f"restored {report.files} files, {report.dirs} dirs, {report.symlinks} symlinks, "
              f"{render.size(report.bytes)} to {args.to}{failed}")
    if report.errors:
        # Everything else has been written; the exit code says the restore is incomplete, and whether
        # trying again may help (the store was out of reach) or not (its data is damaged).
        if report.transient == len(report.errors):
            raise TransientError(f"{len(report.errors)} entries could not be restored: the store could not be "
                                 "read; try again")
        raise IntegrityError(f"{len(report.errors)} entries could not be restored")
    return 0
