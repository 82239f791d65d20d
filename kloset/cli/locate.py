"""kloset locate: every entry, in every snapshot, whose name or path matches a shell pattern."""

from __future__ import annotations

import argparse

from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", metavar="PATTERN",
                        help="a shell pattern matched against names (`*.pdf`) and whole paths (`/etc/*`)")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        for snap, path in store.locate(args.pattern):
            print(f"{snap.short_id}:{path}")
    return 0
