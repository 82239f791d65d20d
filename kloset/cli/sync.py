"""kloset sync: copy snapshots to, from or both ways with another store.

``kloset [at STORE] sync [SNAP...] to|from|with LOCATION``. The other store's passphrase comes from its
entry's ``passphrase`` or ``passphrase_cmd`` key, ``--other-passphrase-cmd``, ``$KLOSET_OTHER_PASSPHRASE``,
and then from where any store's does (``$KLOSET_PASSPHRASE``, ``$KLOSET_PASSPHRASE_CMD``, a prompt).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import kloset
from kloset.errors import AuthenticationError, ConfigError
from kloset.lifecycle.sync import DIRECTIONS
from kloset.location import Location, connector_config

from . import render
from .context import Context

OTHER_PASSPHRASE = "KLOSET_OTHER_PASSPHRASE"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "kloset [at STORE] sync [SNAP...] to|from|with LOCATION [options]"
    parser.add_argument("words", nargs="+", metavar="[SNAP...] to|from|with LOCATION",
                        help="snapshots to sync (default: all; with `with`, of either store), the direction "
                             "seen from this store, and the other store")
    parser.add_argument("--other-passphrase-cmd", metavar="CMD",
                        help="a command whose output is the other store's passphrase "
                             f"(else ${OTHER_PASSPHRASE}, then as for this store)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def other_location(location: str, command: str | None) -> Location:
    """The other store's connector config, carrying the passphrase that is meant for it (see the module)."""
    config = connector_config(location, "store")
    if "passphrase" in config or "passphrase_cmd" in config:
        return config
    if command:
        return {**config, "passphrase_cmd": command}
    given = os.environ.get(OTHER_PASSPHRASE)
    return {**config, "passphrase": given} if given is not None else config


def _open_other(location: str, command: str | None) -> kloset.Store:
    try:
        return kloset.open(other_location(location, command))
    except AuthenticationError as e:  # say which of the two stores refused
        raise AuthenticationError(f"{location}: {e}") from e


def run(args: argparse.Namespace, context: Context) -> int:
    words = list(args.words)
    if len(words) < 2 or words[-2] not in DIRECTIONS:
        raise ConfigError("sync needs a direction and a location at the end: [SNAP...] to|from|with LOCATION")
    *refs, direction, location = words
    progress = not args.quiet and sys.stderr.isatty()
    start = time.monotonic_ns()
    with context.open_store() as store, _open_other(location, args.other_passphrase_cmd) as other:
        report = store.sync(other, direction=direction, snapshots=refs, progress=progress)
        if args.quiet:
            return 0
        names = {"to": (store.location, location), "from": (location, store.location)}
        for s in report.snapshots:
            src, dst = names[s.direction]
            if not s.copied:
                print(f"skipped snapshot {s.source_id[:8]} of {src}: {dst} has it")
                continue
            errors = f", {s.errors} files unreadable in {src}" if s.errors else ""
            print(f"copied snapshot {s.source_id[:8]} of {src} to {dst} as {s.target_id[:8]}: "
                  f"{render.files(s.files)}, {render.size(s.size)}, {render.size(s.stored)} stored{errors}")
    plural = "s" if report.copied != 1 else ""
    print(f"copied {report.copied} snapshot{plural} ({report.skipped} already there), {render.size(report.stored)} "
          f"stored, {render.seconds(time.monotonic_ns() - start)}")
    return 0
