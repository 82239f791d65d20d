"""kloset check: verify the store's snapshots and, unless --fast, every byte it holds."""

from __future__ import annotations

import argparse
import sys

from kloset import CheckFailed, CheckReport

from . import render
from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true",
                        help="check structure and that every chunk is indexed, without reading packs")
    parser.add_argument("snapshots", nargs="*", metavar="SNAP",
                        help="judge only these snapshots (default: all)")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        selected = {store.snapshot(ref).short_id for ref in args.snapshots}
        report = store.check(read_data=not args.fast, progress=sys.stderr.isatty())
    damaged: dict[str, list[str]] = {**{k: [] for k in report.damaged_snapshots}, **report.damaged_files}
    if selected:
        damaged = {k: v for k, v in damaged.items() if k in selected}
    # With snapshots named, damage they do not use (another snapshot's files) does not fail the check
    ok = not damaged if selected else report.ok
    if ok:
        what = f"{report.snapshots} snapshots" + (", data not read" if args.fast else
                                                  f", {report.packs} packs, {report.blobs} blobs")
        print(f"OK ({what})")
        if not report.ok:
            print("kloset: warning: the store has damage that the selected snapshots do not use",
                  file=sys.stderr)
        return 0
    render.write_lines(_describe(report, damaged))
    where = [f"{len(damaged)} snapshots"]
    if report.damaged_packs:
        where.append(f"{len(report.damaged_packs)} packs")
    if report.damaged_states:
        where.append(f"{len(report.damaged_states)} states")
    raise CheckFailed(f"check found damage in {', '.join(where)}", report)


def _describe(report: CheckReport, damaged: dict[str, list[str]]) -> list[str]:
    lines = [f"damaged state {sid}: {why}" for sid, why in sorted(report.damaged_states.items())]
    lines += [f"damaged pack {pid}: {why}" for pid, why in sorted(report.damaged_packs.items())]
    if report.missing_blobs:
        lines.append(f"missing blobs: {len(report.missing_blobs)}")
    for short_id, paths in sorted(damaged.items()):
        why = report.damaged_snapshots.get(short_id)
        if why:
            lines.append(f"damaged snapshot {short_id}: {why}")
        if paths:
            lines.append(f"snapshot {short_id}: {len(paths)} damaged files")
            lines += [f"  {p}" for p in paths]
    return lines
