"""kloset cache: this machine's cache of a store's index.

    kloset cache rebuild     throw the cache away and build it again from the store's states

The cache is rebuilt on its own when it is missing or behind the store; ``rebuild`` is the way out of
one that is damaged or suspected, and costs one read of every state of the store."""

from __future__ import annotations

import argparse

from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("rebuild", help="throw away the local index and metadata caches and rebuild the index")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        counts = store.rebuild_cache()
        print(f"rebuilt the index cache of store {store.id}: {counts['states']} states merged, "
              f"{counts['packs']} packs, {counts['blobs']} blobs, {counts['snapshots']} snapshots")
    return 0
