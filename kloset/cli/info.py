"""kloset info: the store's identity and size, or one snapshot's header and summary."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

import kloset

from . import render
from .context import Context
from .ls import snapshot_record


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", nargs="?", metavar="SNAP", help="a snapshot (ID prefix or latest)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        info = store.info() if args.snapshot is None else _snapshot_info(store.snapshot(args.snapshot))
    if args.json:
        render.write_json(info)
    else:
        width = max(map(len, info))
        render.write_lines(f"{k + ':':<{width + 1}} {_text(k, v)}" for k, v in info.items())
    return 0


def _snapshot_info(snap: kloset.Snapshot) -> dict[str, Any]:
    h = snap.header
    info = snapshot_record(snap)
    extra = {"os": h.os, "arch": h.arch, "command_line": h.command_line, "new_chunks": h.summary.new_chunks,
             "reused_files": h.summary.reused_files,
             "analyzers": sorted({k for a in snap.analyses() for k in a["analyzers"]}),
             "data_classes": snap.data_classes()}
    return {**info, **extra}


def _text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} ({render.files(v)})" for k, v in value.items()) or "-"
    if key in ("size", "stored") and isinstance(value, int):
        return f"{render.size(value)} ({value} bytes)"
    if key == "timestamp":
        return render.local_time(datetime.fromisoformat(value))
    if key == "duration":
        return f"{value:.1f}s"
    return str(value) if value != "" else "-"

