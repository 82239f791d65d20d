"""kloset rm: forget snapshots. Their data stays in the store until it is garbage-collected."""

from __future__ import annotations

import argparse

from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshots", nargs="+", metavar="SNAP", help="snapshot ID prefix, or latest")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        for sid in store.rm(*args.snapshots):
            print(f"removed snapshot {sid}")
    return 0
