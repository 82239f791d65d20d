"""kloset analyze: run analyzers over a snapshot's content and link their results to it."""

from __future__ import annotations

import argparse
import sys

from . import render
from .context import Context


def analyzer_names(values: list[str]) -> list[str]:
    """``--analyze gdpr,email --analyze x`` -> ["gdpr", "email", "x"], in order, once each."""
    return list(dict.fromkeys(n.strip() for v in values for n in v.split(",") if n.strip()))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", nargs="?", default="latest", metavar="SNAP",
                        help="the snapshot to analyze (default: latest)")
    parser.add_argument("--analyzer", action="append", default=[], metavar="NAME[,NAME]",
                        help="run these analyzers (repeatable; default: every installed one)")
    parser.add_argument("--json", action="store_true", help="print the report as a JSON object")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def run(args: argparse.Namespace, context: Context) -> int:
    names = analyzer_names(args.analyzer) or None
    with context.open_store() as store:
        snap = store.snapshot(args.snapshot)
        report = snap.analyze(names, progress=not args.quiet and not args.json and sys.stderr.isatty())
        classes = snap.data_classes()
    for path, error in report.errors:
        print(f"kloset: warning: {path}: {error}", file=sys.stderr)
    if args.json:
        render.write_json({"snapshot_id": snap.id, **vars(report), "errors": [list(e) for e in report.errors],
                           "data_classes": classes})
    elif not args.quiet:
        print(f"analyzed snapshot {snap.short_id} with {', '.join(report.analyzers)}: {report.objects} objects, "
              f"{report.analyzed} read ({render.size(report.bytes_read)}), {report.reused} known already"
              + (f", {len(report.errors)} errors" if report.errors else ""))
        render.write_lines(summary_lines(classes))
    return 0


def summary_lines(classes: dict[str, int]) -> list[str]:
    """The data-class summary: one line per category, with how many files hold it."""
    if not classes:
        return ["no personal data found"]
    width = max(map(len, classes))
    return [f"  {c:<{width}}  {render.files(n)}" for c, n in classes.items()]

