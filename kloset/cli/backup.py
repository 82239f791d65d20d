"""kloset backup: take a snapshot of a directory, a location, or a named source (``@name``)."""

from __future__ import annotations

import argparse
import sys

from kloset.allocator import keep_freed_heap
from kloset.registry import analyzer_class
from kloset.store import importer_for

from . import render
from .analyze import analyzer_names, summary_lines
from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", metavar="PATH",
                        help="what to back up: a directory, a location or a source's @name[:subpath] "
                             "(default: the current directory)")
    parser.add_argument("--tag", action="append", default=[], metavar="T", help="tag the snapshot (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="skip entries matching a gitignore-style pattern (repeatable)")
    parser.add_argument("--exclude-file", action="append", default=[], metavar="FILE",
                        help="read exclude patterns from FILE, one per line (repeatable)")
    for label in ("name", "category", "environment", "perimeter", "job"):
        parser.add_argument(f"--{label}", default="", metavar=label[0].upper(), help=f"the snapshot's {label}")
    parser.add_argument("--analyze", action="append", default=[], metavar="NAME[,NAME]",
                        help="run analyzers (gdpr, email...) on the content as it is read (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def _excludes(args: argparse.Namespace) -> list[str]:
    patterns = list(args.exclude)
    if args.exclude_file:
        # Only the fs connector defines the file's syntax; importing it is deferred to when it is used.
        from kloset.importer import read_exclude_file

        for f in args.exclude_file:
            patterns += read_exclude_file(f)
    return patterns


def run(args: argparse.Namespace, context: Context) -> int:
    progress = not args.quiet and sys.stderr.isatty()
    analyzers = analyzer_names(args.analyze)
    for name in analyzers:
        # Loaded before the workers fork, so that they start with the analyzers imported; an unknown
        # name fails here, before anything is read.
        analyzer_class(name)
    if context.own_process:
        # Before any thread starts and before the walk's pipe or a plugin's connection exists, which
        # workers must not hold.
        from kloset.snapshot.workers import prefork

        prefork()
        keep_freed_heap(32 << 20)
    importer = importer_for(args.path, exclude=_excludes(args))
    try:
        # The source is walked while the passphrase is stretched, which takes a good part of a short
        # backup: the two run side by side.
        importer.prefetch()
        store = context.open_or_create_store()
    except BaseException:
        importer.close()
        raise
    with store:
        snap = store.backup(
            importer,
            tags=args.tag, progress=progress, command_line=" ".join(sys.argv), analyze=analyzers,
            name=args.name, category=args.category, environment=args.environment,
            perimeter=args.perimeter, job=args.job)
        s, h = snap.summary, snap.header
        if s.errors:
            # An unreadable entry does not fail the backup; say which ones are missing from it
            errors = snap.table("errors", ["path", "error"]).to_pylist()
            for row in errors:
                print(f"kloset: warning: {row['path']}: {row['error']}", file=sys.stderr)
        if not args.quiet:
            errors_note = f", {s.errors} errors" if s.errors else ""
            print(f"created snapshot {snap.short_id}: {s.files} files, {s.dirs} dirs, {render.size(s.size)}, "
                  f"{render.size(s.stored)} stored, {render.seconds(h.duration_ns)}{errors_note}")
            if analyzers:
                render.write_lines(summary_lines(snap.data_classes()))
    return 0
