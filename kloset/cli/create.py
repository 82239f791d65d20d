"""kloset create: make a new store at the location."""

from __future__ import annotations

import argparse

from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plaintext", action="store_true",
                        help="store data unencrypted (still compressed and checksummed)")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.create_store(plaintext=args.plaintext) as store:
        kind = "encrypted" if store.encrypted else "plaintext"
        print(f"created {kind} store {store.id} at {store.location}")
    return 0
