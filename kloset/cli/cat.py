"""kloset cat: write files of snapshots to stdout, byte for byte."""

from __future__ import annotations

import argparse
import sys

from kloset import ConfigError

from .context import Context, resolve

_CHUNK = 1 << 20


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("entries", nargs="+", metavar="SNAP:PATH", help="files to write, in order")


def run(args: argparse.Namespace, context: Context) -> int:
    out = sys.stdout.buffer
    with context.open_store() as store:
        for arg in args.entries:
            snap, path = resolve(store, arg)
            if path is None:
                raise ConfigError(f"{arg!r}: name a file, as SNAP:PATH")
            # Streamed so that a file larger than memory can be piped out
            with snap.open(path) as f:
                while chunk := f.read(_CHUNK):
                    out.write(chunk)
    out.flush()
    return 0
