"""kloset diff: what changed between two snapshots, one line per path."""

from __future__ import annotations

import argparse

from .context import Context

_SIGN = {"added": "+", "removed": "-", "modified": "~"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="SNAP1", help="the snapshot to compare from")
    parser.add_argument("new", metavar="SNAP2", help="the snapshot to compare to")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        old, new = store.snapshot(args.old), store.snapshot(args.new)
        for c in store.diff(old, new):
            fields = f" ({', '.join(c.fields)})" if c.fields else ""
            print(f"{_SIGN[c.change]} {c.path}{fields}")
    return 0
