#!/usr/bin/env python3
"""SQL scale benchmark: queries over synthetic snapshots of a million files each.

    python tests/bench/sql_scale.py --files 1000000 --snapshots 10

Builds the snapshots with the in-memory importer of scale.py (each one a re-backup of the same tree
with 1% of it changed, so the store stays small while every snapshot has all its rows), then times,
in one warm process, ``SELECT count(*) FROM files WHERE size > 1048576`` on one snapshot, and runs a
``GROUP BY content_type`` over all of them; prints the times and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from scale import Synthetic

import kloset


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--snapshots", type=int, default=10)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = kloset.create(f"{tmp}/store", plaintext=True)
        t = time.perf_counter()
        for g in range(a.snapshots):
            lo = (g * a.files // 100) % a.files
            store.backup(Synthetic(a.files, g, (lo, lo + a.files // 100)), progress=False)
        print(f"built {a.snapshots} snapshots of {a.files:,} files in {time.perf_counter() - t:.0f} s; "
              f"peak RSS so far {rss_mib():,.0f} MiB")
        latest = store.snapshot("latest").id
        one = f"SELECT count(*) AS n FROM files WHERE snapshot_id = '{latest}' AND size > 1048576"
        for label in ("cold", "warm", "warm"):
            t = time.perf_counter()
            n = store.sql_rows(one)[1][0][0]
            print(f"count over one snapshot ({label}): {time.perf_counter() - t:.3f} s, answer {n}")
        t = time.perf_counter()
        _, rows = store.sql_rows("SELECT content_type, count(*) AS n FROM files GROUP BY 1 ORDER BY 2 DESC")
        print(f"GROUP BY content_type over {a.snapshots} snapshots: {time.perf_counter() - t:.1f} s, "
              f"{sum(r[1] for r in rows):,} rows counted; peak RSS {rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
