"""Backups running at the same time into one store: each takes a shared lock, both commit, and the store
reads right afterwards, even where both stored the same content."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import kloset
from kloset.objects import ResourceType

from .trees import MiB, assert_same_tree, build_many_files


def make_source(root: Path, seed: int) -> Path:
    build_many_files(root, dirs=4, per_dir=100)
    for i in range(2):
        (root / f"big{i}.bin").write_bytes(os.urandom(3 * MiB))
    (root / "seed.txt").write_text(str(seed))
    return root


def run_together(*jobs: tuple[kloset.Store, Path]) -> list[kloset.Snapshot]:
    barrier = threading.Barrier(len(jobs))
    results: list[kloset.Snapshot | BaseException | None] = [None] * len(jobs)

    def run(i: int, store: kloset.Store, src: Path) -> None:
        try:
            barrier.wait()
            results[i] = store.backup(str(src))
        except BaseException as e:  # handed to the test thread
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


def assert_both_restore(store_path: Path, snaps: list[kloset.Snapshot], sources: list[Path], tmp_path: Path) -> None:
    fresh = kloset.open(str(store_path))
    assert sorted(s.id for s in fresh.snapshots()) == sorted(s.id for s in snaps)
    assert fresh.check().ok
    for i, (snap, src) in enumerate(zip(snaps, sources, strict=True)):
        fresh.snapshot(snap.id).restore(tmp_path / f"out{i}")
        assert_same_tree(src, tmp_path / f"out{i}")
    assert fresh.storage.list(ResourceType.LOCK) == []


def test_two_backups_of_different_sources_at_once(store: kloset.Store, store_path: Path, tmp_path: Path) -> None:
    a, b = make_source(tmp_path / "a", 1), make_source(tmp_path / "b", 2)
    other = kloset.open(str(store_path))

    snaps = run_together((store, a), (other, b))

    assert_both_restore(store_path, snaps, [a, b], tmp_path)


def test_two_backups_of_the_same_content_at_once(store: kloset.Store, store_path: Path, tmp_path: Path) -> None:
    src = make_source(tmp_path / "src", 3)
    other = kloset.open(str(store_path))

    snaps = run_together((store, src), (other, src))

    assert all(s.summary.stored > 6 * MiB for s in snaps)  # both ran before either committed
    assert_both_restore(store_path, snaps, [src, src], tmp_path)
    third = kloset.open(str(store_path)).backup(str(src))  # whichever copy of a blob the index kept
    assert third.summary.reused_files == third.summary.files


_BACKUP = textwrap.dedent("""
    import os, sys
    import kloset
    snap = kloset.open(sys.argv[1]).backup(sys.argv[2])
    print(snap.id, flush=True)
    os._exit(0)  # no interpreter teardown: pyarrow's pool may abort it (apache/arrow#34314)
""")


@pytest.mark.slow
def test_two_backup_processes_at_once(store: kloset.Store, store_path: Path, tmp_path: Path) -> None:
    sources = [make_source(tmp_path / "a", 4), make_source(tmp_path / "b", 5)]

    procs = [subprocess.Popen([sys.executable, "-c", _BACKUP, str(store_path), str(src)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for src in sources]
    outs = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outs
    fresh = kloset.open(str(store_path))
    snaps = [fresh.snapshot(out.strip()) for out, _ in outs]
    assert_both_restore(store_path, snaps, sources, tmp_path)
