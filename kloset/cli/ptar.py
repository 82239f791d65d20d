"""kloset ptar: back up paths into a new single-file .ptar store, one snapshot each, and seal it."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import kloset

from . import render
from .backup import _excludes
from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="FILE.ptar",
                        help="the file to write; it must not exist")
    parser.add_argument("--plaintext", action="store_true",
                        help="store data unencrypted (still compressed and checksummed)")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="skip entries matching a gitignore-style pattern (repeatable)")
    parser.add_argument("--exclude-file", action="append", default=[], metavar="FILE",
                        help="read exclude patterns from FILE, one per line (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="what to back up: directories or locations")


def run(args: argparse.Namespace, context: Context) -> int:
    output = os.path.abspath(os.path.expanduser(args.output))
    excludes = _excludes(args)
    progress = not args.quiet and sys.stderr.isatty()
    if context.own_process:
        # Before any thread starts (see `kloset backup`): the backup's workers join the file being written.
        from kloset.snapshot.workers import prefork

        prefork()
    store = kloset.create({"location": "ptar://" + output}, plaintext=args.plaintext)
    sealed = False
    try:
        with store:  # closing the store seals the file
            for path in args.paths:
                snap = store.backup(path, exclude=excludes, progress=progress, command_line=" ".join(sys.argv))
                s = snap.summary
                if s.errors:
                    for row in snap.table("errors", ["path", "error"]).to_pylist():
                        print(f"kloset: warning: {row['path']}: {row['error']}", file=sys.stderr)
                if not args.quiet:
                    print(f"{path}: snapshot {snap.short_id}: {s.files} files, {s.dirs} dirs, "
                          f"{render.size(s.size)}")
        sealed = True
    finally:
        if not sealed:
            # A file that lacks some of the paths asked for is not the archive asked for.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(output)
    if not args.quiet:
        kind = "encrypted" if store.encrypted else "plaintext"
        print(f"wrote {kind} {output} ({render.size(os.path.getsize(output))})")
    return 0
