#!/usr/bin/env python3
"""Scale benchmark: memory and time of backing up N synthetic files, and what a re-backup adds.

    python tests/bench/scale.py --files 1000000

The source is an in-memory importer (a tree of directories of 100 small, distinct files each), so the
figure is the engine's own cost, not the file system's. Prints peak RSS, backup times, the stored
growth of the store for the first backup, an unchanged re-backup, and a re-backup with 1% of the files
changed in one region of the tree, with how many pieces of the file index each one had to write.
The process is tuned the way the ``kloset`` command tunes its own (kloset.allocator); ``--as-library``
measures it as a host process that leaves the allocator alone, as a notebook does.
"""

from __future__ import annotations

import argparse
import io
import resource
import stat
import tempfile
import time
from collections.abc import Iterator

import kloset
from kloset import FileInfo, Importer, Record


class Synthetic(Importer):
    """``files`` small files, 100 per directory; files in [changed_from, changed_to) get new content."""

    ordered = True

    def __init__(self, files: int, generation: int = 0, changed: tuple[int, int] = (0, 0)) -> None:
        super().__init__({"location": "synthetic://"})
        self.files, self.generation, self.changed = files, generation, changed

    origin = property(lambda self: "bench")  # type: ignore[assignment]
    type = property(lambda self: "synthetic")  # type: ignore[assignment]
    root = property(lambda self: "/data")  # type: ignore[assignment]

    def _content(self, i: int) -> bytes:
        gen = self.generation if self.changed[0] <= i < self.changed[1] else 0
        return f"file {i} generation {gen}\n".encode() * 8

    def scan(self) -> Iterator[Record]:
        yield Record("/data", FileInfo("data", mode=stat.S_IFDIR | 0o755, ino=1))
        dirs = (self.files + 99) // 100
        for d in range(dirs):
            dname = f"/data/d{d:07d}"
            yield Record(dname, FileInfo(dname[6:], mode=stat.S_IFDIR | 0o755, ino=10 + d))
            for i in range(d * 100, min(self.files, d * 100 + 100)):
                data = self._content(i)
                gen = self.generation if self.changed[0] <= i < self.changed[1] else 0
                yield Record(f"{dname}/f{i:08d}", FileInfo(
                    f"f{i:08d}", size=len(data), mode=stat.S_IFREG | 0o644, mtime_ns=1_700_000_000_000_000_000 + gen,
                    ctime_ns=1_700_000_000_000_000_000 + gen, ino=10_000_000 + i + gen * 100_000_000),
                    open=lambda data=data: io.BytesIO(data))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--as-library", action="store_true", help="leave the allocator as a host process has it")
    a = ap.parse_args()
    if not a.as_library:
        from kloset.allocator import release_large_buffers, without_pandas

        release_large_buffers()
        without_pandas()
    with tempfile.TemporaryDirectory() as tmp:
        store = kloset.create(f"{tmp}/store", plaintext=True)
        rows = []
        prev: set[bytes] = set()
        for label, imp in [("first backup", Synthetic(a.files)), ("unchanged re-backup", Synthetic(a.files)),
                           ("1% changed", Synthetic(a.files, 1, (a.files // 2, a.files // 2 + a.files // 100)))]:
            before = store.storage.size()
            t = time.perf_counter()
            snap = store.backup(imp, progress=False)
            secs = time.perf_counter() - t
            pieces = {p.id for p in snap.header.tables["files"]}
            rows.append((label, secs, store.storage.size() - before, len(pieces), len(pieces - prev),
                         snap.summary.reused_files))
            prev = pieces
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    first = rows[0][2]
    print(f"files: {a.files:,}   peak RSS: {rss:,.0f} MiB" + ("   (as a library)" if a.as_library else ""))
    print("| step | seconds | store growth (bytes) | % of first | index pieces | new pieces | files reused |")
    print("|---|---|---|---|---|---|---|")
    for label, secs, stored, pieces, new, reused in rows:
        print(f"| {label} | {secs:.1f} | {stored:,} | {100 * stored / first:.2f} | {pieces} | {new} | {reused:,} |")


if __name__ == "__main__":
    main()
