#!/usr/bin/env python3
"""Snapshot browser benchmark: open a snapshot of a million files, expand a folder of 10,000 entries.

    python tests/bench/widgets.py [--files 1000000] [--work DIR] [--json]

Builds (once per work folder) an encrypted store holding one snapshot of ``--files`` files: /data with
100 folders of 100 folders of 100 small distinct files, and /data/m-wide, a folder of 10,000 files placed
mid-tree, so that its listing sits between subtrees of a hundred thousand rows. Then, in a new process
each time (cold: nothing of the snapshot decoded yet, as a notebook's first cell has it), times:

- open: ``SnapshotBrowser(store)``: the snapshot list, the newest snapshot opened and its root listed
  into widgets (bar: < 2 s);
- expand: a click on m-wide: its first page listed into widgets (bar: < 1 s);
- every page of m-wide, clicked one after another (10,000 entries in widgets);
- ``listdir`` of m-wide whole, without widgets;
- opening the store (key derivation) and the process's peak RSS, for context.
Each figure is the median of ``--runs`` processes.

``--browser`` also times the same in a real browser, over ``--runs`` page loads: the browser widget
served by Voilà on 127.0.0.1 and used in headless Chromium (tests/viewers/voila.py). There, "open" is
the pick of the other of the store's two snapshots in the widget's list until its root is on screen,
and "expand" is a click on m-wide until its first page is on screen: the kernel's work, the widget
messages and the page's rendering.
Exits 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PASS = "correct horse battery staple 42"
WIDE = "/data/m-wide"
PAGE = 100  # the browser's default page size


def _records(files: int) -> Iterator[object]:
    from kloset import FileInfo, Record

    def folder(path: str, ino: int) -> Record:
        return Record(path, FileInfo(path.rsplit("/", 1)[-1], mode=stat.S_IFDIR | 0o755, ino=ino))

    def file(path: str, i: int) -> Record:
        data = f"file {i}\n".encode() * 4
        return Record(path, FileInfo(path.rsplit("/", 1)[-1], size=len(data), mode=stat.S_IFREG | 0o644,
                                     mtime_ns=1_700_000_000_000_000_000, ctime_ns=1_700_000_000_000_000_000,
                                     ino=10_000_000 + i), open=lambda data=data: io.BytesIO(data))

    yield folder("/data", 1)
    tops = max(1, (files - 10_000) // 10_000)  # folders of 100 folders of 100 files
    n = 0

    def top(name: str, ino: int) -> Iterator[Record]:
        nonlocal n
        yield folder(name, ino)
        for b in range(100):
            mid = f"{name}/b{b:03d}"
            yield folder(mid, 100_000 + ino * 100 + b)
            for c in range(100):
                yield file(f"{mid}/f{c:03d}", n)
                n += 1

    for a in range(tops // 2):  # "a…" sorts before m-wide, "n…" after it
        yield from top(f"/data/a{a:04d}", 10 + a)
    yield folder(WIDE, 5)
    for i in range(10_000):
        yield file(f"{WIDE}/w{i:05d}", n)
        n += 1
    for a in range(tops // 2, tops):
        yield from top(f"/data/n{a:04d}", 10 + a)


def build(store_dir: Path, files: int) -> None:
    import kloset
    from kloset import Importer

    class Tree(Importer):
        ordered = True
        origin = property(lambda self: "bench")  # type: ignore[assignment]
        type = property(lambda self: "synthetic")  # type: ignore[assignment]
        root = property(lambda self: "/data")  # type: ignore[assignment]

        def scan(self) -> Iterator[kloset.Record]:
            return _records(files)  # type: ignore[return-value]

    store = kloset.create(str(store_dir), passphrase=PASS)
    for _ in range(2):  # two snapshots, so that a browser can switch between them
        t = time.perf_counter()
        snap = store.backup(Tree({"location": "synthetic://"}), progress=False)
        print(f"built a snapshot of {snap.summary.files:,} files in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)


_MEASURE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import kloset
from kloset.viewers.widgets import SnapshotBrowser
t1 = time.perf_counter()
store = kloset.open(sys.argv[1], passphrase=sys.argv[2])
t2 = time.perf_counter()
b = SnapshotBrowser(store)
t3 = time.perf_counter()
assert b.message.value == "", b.message.value
node = b._nodes[sys.argv[3]]
node.button.click()
t4 = time.perf_counter()
assert len(b.shown(sys.argv[3])) == b.page_size, b.message.value
while node.more is not None:
    node.more.click()
t5 = time.perf_counter()
assert len(b.shown(sys.argv[3])) == 10_000
fresh = kloset.open(sys.argv[1], passphrase=sys.argv[2]).snapshot()
t6 = time.perf_counter()
entries = fresh.listdir(sys.argv[3])
t7 = time.perf_counter()
assert len(entries) == 10_000
print(json.dumps({"import": t1 - t0, "open_store": t2 - t1, "open": t3 - t2, "expand": t4 - t3,
                  "all_pages": t5 - t4, "listdir_10000": t7 - t6, "root_shown": len(b.shown("/data")),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(store_dir: Path, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _MEASURE, str(store_dir), PASS, WIDE], check=True,
                             capture_output=True, text=True, env={**os.environ, "KLOSET_PROGRESS": "0"})
        results.append(json.loads(out.stdout))
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


_NOTEBOOK_CELL = """import os, kloset
from kloset.viewers.widgets import SnapshotBrowser
browser = SnapshotBrowser(kloset.open(os.environ["BENCH_STORE"]))
browser"""


def measure_browser(store_dir: Path, work: Path, runs: int) -> dict[str, float]:
    import nbformat

    sys.path.insert(0, str(Path(__file__).parents[1] / "viewers"))
    from voila import chromium, serve

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_NOTEBOOK_CELL)]
    path = work / "browser-bench.ipynb"
    nbformat.write(nb, path)
    env = {"BENCH_STORE": str(store_dir), "KLOSET_PASSPHRASE": PASS, "XDG_CACHE_HOME": str(work / "cache")}
    times: dict[str, list[float]] = {"open": [], "expand": []}
    wide = WIDE.rsplit("/", 1)[-1]
    with serve(path, work, env) as url, chromium() as page:
        for _ in range(runs):  # each load of the page runs the notebook on a kernel of its own: cold
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("button", name=f"▸ {wide}").wait_for(timeout=300_000)
            t = time.perf_counter()
            page.get_by_role("button", name=f"▸ {wide}").click()
            page.get_by_role("button", name=f"w{PAGE - 1:05d}").wait_for(timeout=60_000)
            times["expand"].append(time.perf_counter() - t)
            box = page.get_by_role("button", name=f"w{PAGE - 1:05d}").bounding_box()
            assert box is not None and box["height"] >= 20, box  # drawn at full height, not squeezed
            t = time.perf_counter()
            page.locator("select").first.select_option(index=1)  # the other snapshot
            page.get_by_role("button", name="w00000").wait_for(state="detached", timeout=60_000)
            page.get_by_role("button", name=f"▸ {wide}").wait_for(timeout=60_000)
            times["open"].append(time.perf_counter() - t)
        page.screenshot(path=str(work / "browser-bench.png"))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, help="keeps the built store between runs")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--browser", action="store_true", help="also time it in Chromium through Voilà")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="kloset-widgets-bench-"))
    store_dir = work / f"store-{a.files}"
    if not (store_dir / "CONFIG").exists() and not store_dir.exists():
        work.mkdir(parents=True, exist_ok=True)
        build(store_dir, a.files)
    r = measure(store_dir, a.runs)
    if a.browser:
        r.update({f"browser_{k}": v for k, v in measure_browser(store_dir, work, a.runs).items()})
    if a.json:
        print(json.dumps(r))
        return
    print(f"snapshot of {a.files:,} files; median of {a.runs} cold processes")
    print(f"  open (SnapshotBrowser(store), root listed)   {r['open']:.3f} s   bar < 2 s: "
          f"{'met' if r['open'] < 2 else 'NOT met'}")
    print(f"  expand m-wide (10,000 entries), first page   {r['expand']:.3f} s   bar < 1 s: "
          f"{'met' if r['expand'] < 1 else 'NOT met'}")
    print(f"  every page of m-wide, one click each         {r['all_pages']:.3f} s")
    print(f"  listdir(m-wide), 10,000 entries, no widgets  {r['listdir_10000']:.3f} s")
    print(f"  open the store (Argon2id)                    {r['open_store']:.3f} s")
    print(f"  import kloset and the widgets                {r['import']:.3f} s")
    print(f"  peak RSS                                     {r['rss_mib']:.0f} MiB")
    if a.browser:
        print(f"in Chromium, through Voilà (median of {a.runs} page loads)")
        print(f"  open the other snapshot, root on screen      {r['browser_open']:.3f} s   bar < 2 s: "
              f"{'met' if r['browser_open'] < 2 else 'NOT met'}")
        print(f"  expand m-wide, first page on screen          {r['browser_expand']:.3f} s   bar < 1 s: "
              f"{'met' if r['browser_expand'] < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
