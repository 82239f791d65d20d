"""Run the fault-injection suite and print its table: ``python -m tests.faults.run [--kills N] [--seed S]
[--only KIND] [--reduced]``. Exits 1 if any fault had a wrong outcome. See docs/faults.md."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import damage, disk, kills, network
from .tally import Tally

KINDS = ("kill", "disk", "damage", "network")


@dataclass(frozen=True)
class Size:
    """How many faults of each kind a run injects."""

    kills: int  # kill -9 in all, shared out between backup, maintenance and sync
    damages: int  # flips, and as many truncations, of each target
    disks: int  # full disks under the store, and as many under the local cache
    drops: int  # rounds with cut connections, per server

    def share(self) -> dict[str, int]:
        """The kills of each operation: half for backup, a quarter each for maintenance and sync."""
        backup = (self.kills + 1) // 2
        maintenance = (self.kills - backup + 1) // 2
        return {"backup": backup, "maintenance": maintenance, "sync": self.kills - backup - maintenance}


FULL = Size(kills=200, damages=4, disks=5, drops=6)
#: What the default test run injects: every kind and target, in about a minute and a half.
REDUCED = Size(kills=18, damages=1, disks=1, drops=1)


def run(size: Size, seed: int, only: set[str] | None = None, out: Callable[[str], None] = print) -> Tally:
    tally = Tally()
    rng = random.Random(seed)

    def wanted(kind: str) -> bool:
        return not only or kind in only

    started = time.monotonic()
    if wanted("kill"):
        for target, n in size.share().items():
            if n:
                kills.kill(tally, target, n, rng)
                out(f"kill -9 of {target}: {n} kills done at {time.monotonic() - started:.0f}s")
    if wanted("disk"):
        disk.inject(tally, size.disks, rng)
        out(f"full disks done at {time.monotonic() - started:.0f}s")
    if wanted("damage"):
        damage.inject(tally, size.damages, rng)
        out(f"damaged bytes done at {time.monotonic() - started:.0f}s")
    if wanted("network"):
        network.inject(tally, size.drops, rng)
        out(f"dropped connections done at {time.monotonic() - started:.0f}s")
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.run", description=__doc__)
    parser.add_argument("--kills", type=int, help=f"kill -9 in all (default {FULL.kills}, reduced {REDUCED.kills})")
    parser.add_argument("--seed", type=int, default=20261130, help="seed of every random choice")
    parser.add_argument("--only", action="append", choices=KINDS, metavar="KIND",
                        help=f"inject only this kind of fault (repeatable): {', '.join(KINDS)}")
    parser.add_argument("--reduced", action="store_true", help="the size the default test run uses")
    args = parser.parse_args(argv)
    size = REDUCED if args.reduced else FULL
    if args.kills is not None:
        size = Size(args.kills, size.damages, size.disks, size.drops)
    tally = run(size, args.seed, set(args.only) if args.only else None,
                out=lambda line: print(line, file=sys.stderr, flush=True))
    print(tally.table())
    return 0 if tally.ok else 1


if __name__ == "__main__":
    sys.exit(main())
