"""Maintenance: the space of data no snapshot uses comes back, after a grace period, with repacking of
packs that are mostly unused, and nothing a snapshot uses is ever lost, whatever stops it midway."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kloset
from kloset import ConfigError, IntegrityError, LockError
from kloset.objects import BlobType, ResourceType
from kloset.storage import Storage

from .trees import assert_same_tree, flip_byte, packfiles, states

MB = 1 << 20


def write_files(root: Path, rng: random.Random, names: range, size: int = 300_000) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in names:
        (root / f"f{i:03}.bin").write_bytes(rng.randbytes(size))


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path / "packfiles").glob("*/*"))


def restored_equal(snap: kloset.Snapshot, expected: Path, out: Path) -> None:
    report = snap.restore(out)
    assert report.ok if hasattr(report, "ok") else True
    assert_same_tree(expected, out, times=False)


@pytest.fixture
def two_generations(tmp_path: Path, rng: random.Random, store: kloset.Store) -> tuple[kloset.Store, Path, Path]:
    """Two snapshots; half the files of the first are replaced in the second. Returns the store, a copy of
    the second tree, and the source folder."""
    src = tmp_path / "src"
    write_files(src, rng, range(20))
    store.backup(str(src))
    write_files(src, rng, range(10))
    store.backup(str(src))
    return store, src, tmp_path


def test_removing_a_snapshot_then_maintenance_gives_its_space_back(two_generations, store_path: Path) -> None:
    store, src, tmp = two_generations
    first, second = store.snapshots()
    before = store_bytes(store_path)
    store.rm(first.id)
    report = store.maintenance(grace=0)
    after = store_bytes(store_path)
    # The first snapshot alone used 10 files of 300 kB; all of it comes back.
    assert before - after >= 10 * 300_000
    assert report.packs_deleted >= 1 and report.packs_repacked == 1 and report.bytes_moved >= 10 * 300_000
    assert store.check().ok
    restored_equal(store.snapshot(second.id), src, tmp / "out")
    assert [s.id for s in store.snapshots()] == [second.id]


def test_without_removal_maintenance_changes_nothing(two_generations, store_path: Path) -> None:
    store, _, _ = two_generations
    store.maintenance(grace=0)  # merges the states into one
    names = sorted(p.name for p in packfiles(store_path)) + sorted(p.name for p in states(store_path))
    report = store.maintenance(grace=0)
    assert not report.changed and report.packs_deleted == 0 and report.packs_repacked == 0
    assert sorted(p.name for p in packfiles(store_path)) + sorted(p.name for p in states(store_path)) == names


def test_dry_run_reports_what_would_go_and_changes_nothing(two_generations, store_path: Path) -> None:
    store, _, _ = two_generations
    store.rm(store.snapshots()[0].id)
    files = sorted(str(p) for p in store_path.rglob("*") if p.is_file())
    dry = store.maintenance(grace=0, dry_run=True)
    assert dry.dry_run and dry.packs_repacked == 1 and dry.bytes_moved >= 10 * 300_000
    assert sorted(str(p) for p in store_path.rglob("*") if p.is_file()) == files
    real = store.maintenance(grace=0)
    assert (real.packs_deleted, real.packs_repacked, real.bytes_moved) == (
        dry.packs_deleted, dry.packs_repacked, dry.bytes_moved)


def test_unused_packs_wait_for_the_grace_period(two_generations, store_path: Path) -> None:
    store, src, tmp = two_generations
    first, second = store.snapshots()
    store.rm(first.id)
    before = store_bytes(store_path)
    waiting = store.maintenance(grace=3600)
    assert waiting.packs_deleted == 0 and waiting.packs_waiting >= 1
    assert store_bytes(store_path) >= before  # repacked copies were added, nothing removed yet
    assert store.check().ok
    again = store.maintenance(grace=3600)
    assert again.packs_deleted == 0 and again.packs_waiting == waiting.packs_waiting
    # The clock runs from the first run that found them unused, not from the latest.
    time.sleep(1.2)
    done = store.maintenance(grace=1)
    assert done.packs_deleted == waiting.packs_waiting and done.packs_waiting == 0
    assert store_bytes(store_path) < before
    assert store.check().ok
    restored_equal(store.snapshot(second.id), src, tmp / "out")


def test_content_used_again_during_the_grace_period_is_kept(tmp_path: Path, rng: random.Random,
                                                            store: kloset.Store) -> None:
    src = tmp_path / "src"
    write_files(src, rng, range(6))
    kept = tmp_path / "kept"
    kept.mkdir()
    for p in src.iterdir():
        (kept / p.name).write_bytes(p.read_bytes())
    first = store.backup(str(src))
    store.rm(first.id)
    assert store.maintenance(grace=3600).packs_waiting >= 1
    # A backup of the same content (a host that was late, or the same files again) uses the waiting blobs.
    again = store.backup(str(kept))
    assert again.summary.stored < 50_000  # only its own metadata: the content was in the store
    report = store.maintenance(grace=0)
    assert report.live_bytes >= 6 * 300_000
    assert store.check().ok
    restored_equal(store.snapshot(again.id), kept, tmp_path / "out")


def test_threshold_decides_what_is_repacked(two_generations, store_path: Path) -> None:
    store, _, _ = two_generations
    store.rm(store.snapshots()[0].id)
    # The first backup's data pack is half in use: below 0.6, not below 0.4.
    assert store.maintenance(grace=0, threshold=0.4, dry_run=True).packs_repacked == 0
    assert store.maintenance(grace=0, threshold=0.6, dry_run=True).packs_repacked == 1
    report = store.maintenance(grace=0, threshold=0)
    assert report.packs_repacked == 0 and report.packs_written == 0
    assert store.check().ok


def test_packs_of_an_interrupted_backup_are_deleted_after_the_grace_period(tmp_path: Path, rng: random.Random,
                                                                         store: kloset.Store,
                                                                         store_path: Path) -> None:
    src = tmp_path / "src"
    write_files(src, rng, range(3))
    store.backup(str(src))
    repo = store._repo
    txn = repo.transaction()
    txn.put(BlobType.CHUNK, rng.randbytes(MB))
    orphans = {e.pack_id for e in txn.flush()}  # uploaded, never committed: what a killed backup leaves
    assert orphans <= set(repo.storage.list(ResourceType.PACKFILE))
    wait = store.maintenance(grace=3600)
    assert wait.orphans_waiting == 1 and wait.orphans_deleted == 0
    assert orphans <= set(repo.storage.list(ResourceType.PACKFILE))
    done = store.maintenance(grace=0)
    assert done.orphans_deleted == 1
    assert not orphans & set(repo.storage.list(ResourceType.PACKFILE))
    assert store.check().ok


def test_a_removed_snapshot_stays_removed_after_its_states_are_merged(tmp_path: Path, rng: random.Random,
                                                                      store: kloset.Store) -> None:
    src = tmp_path / "src"
    write_files(src, rng, range(4))
    a = store.backup(str(src))
    b = store.backup(str(src))  # same content: its data is a's
    store.rm(a.id)
    store.maintenance(grace=3600)  # a's header waits in a pack that is still listed
    reopened = kloset.open(str(store.location))
    assert [s.id for s in reopened.snapshots()] == [b.id]
    store.maintenance(grace=0)
    assert [s.id for s in kloset.open(str(store.location)).snapshots()] == [b.id]


def test_maintenance_needs_the_store_to_itself(two_generations) -> None:
    store, _, _ = two_generations
    with store._repo.lock(), pytest.raises(LockError):
        store.maintenance(grace=0)
    # A dry run takes no lock: it changes nothing.
    with store._repo.lock():
        store.maintenance(grace=0, dry_run=True)


def test_a_snapshot_that_cannot_be_read_stops_maintenance_before_any_change(two_generations,
                                                                           store_path: Path) -> None:
    store, _, _ = two_generations
    first, second = store.snapshots()
    store.rm(first.id)
    # Damage the second snapshot's header: what it uses cannot be known.
    idx = store._repo.index
    _, pack_id, _, offset, _ = idx.locate(bytes.fromhex(second.id))
    pack = next(p for p in packfiles(store_path) if p.name == pack_id.hex())
    flip_byte(pack, offset + 20)
    store.rebuild_cache()
    names = sorted(str(p) for p in store_path.rglob("*") if p.is_file())
    with pytest.raises(IntegrityError, match="cannot be read"):
        store.maintenance(grace=0)
    assert sorted(str(p) for p in store_path.rglob("*") if p.is_file() and "locks" not in p.parts) == names


def test_analyses_of_removed_snapshots_go_and_kept_findings_stay(tmp_path: Path, store: kloset.Store) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("write to jane.doe@example.com about it\n")
    (src / "b.txt").write_text("call bob.smith@example.org\n")
    first = store.backup(str(src), analyze=["gdpr"])
    (src / "b.txt").unlink()
    second = store.backup(str(src), analyze=["gdpr"])
    store.rm(first.id)
    before = {t: sum(1 for _, bt, *_ in store._repo.index.entries() if bt == t)
              for t in (BlobType.RESULT, BlobType.ANALYSIS)}
    store.maintenance(grace=0, threshold=1.0)
    after = {t: sum(1 for _, bt, *_ in store._repo.index.entries() if bt == t)
             for t in (BlobType.RESULT, BlobType.ANALYSIS)}
    assert after[BlobType.ANALYSIS] == before[BlobType.ANALYSIS] - 1
    assert after[BlobType.RESULT] == before[BlobType.RESULT] - 1  # b.txt's result
    f = store.snapshot(second.id).findings()
    assert set(f["path"].str.rsplit("/", n=1).str[1]) == {"a.txt"}
    assert store.check().ok


def test_bad_settings_are_refused(store: kloset.Store) -> None:
    with pytest.raises(ConfigError, match="negative"):
        store.maintenance(grace=-1)
    with pytest.raises(ConfigError, match="0 to 1"):
        store.maintenance(threshold=1.5)


class _DiesAfter:
    """A store that stops working (as if the process were killed) after a number of deletions."""

    def __init__(self, inner: Storage, deletions: int) -> None:
        self.inner, self.left = inner, deletions

    def __getattr__(self, name: str) -> object:  # everything else goes to the real store
        return getattr(self.inner, name)

    def delete(self, resource: ResourceType, rid: bytes) -> None:
        if resource != ResourceType.LOCK:
            if self.left == 0:
                raise KeyboardInterrupt("killed")
            self.left -= 1
        return self.inner.delete(resource, rid)


@pytest.mark.parametrize("deletions", [0, 1, 2, 3, 5])
def test_maintenance_stopped_between_its_deletions_leaves_a_whole_store(tmp_path: Path, rng: random.Random,
                                                                        deletions: int) -> None:
    path = tmp_path / "store"
    store = kloset.create(str(path), plaintext=True)
    src = tmp_path / "src"
    for generation in range(3):
        write_files(src, rng, range(generation * 3, generation * 3 + 6))
        store.backup(str(src))
    last = store.snapshots()[-1]
    store.rm(*[s.id for s in store.snapshots()[:-1]])
    real = store._repo.storage
    store._repo.storage = _DiesAfter(real, deletions)  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        store.maintenance(grace=0)
    store._repo.storage = real
    reopened = kloset.open(str(path))
    assert [s.id for s in reopened.snapshots()] == [last.id]
    assert reopened.check().ok
    reopened.maintenance(grace=0)
    assert reopened.check().ok
    restored_equal(reopened.snapshot(last.id), src, tmp_path / "out")


def test_the_command_line_reports_and_refuses_bad_durations(two_generations, store_path: Path) -> None:
    store, _, _ = two_generations
    store.rm(store.snapshots()[0].id)
    env = {**os.environ, "KLOSET_AGENT": "off"}
    run = [sys.executable, "-m", "kloset.cli.main", "at", str(store_path), "maintenance"]
    dry = subprocess.run([*run, "--dry-run", "--grace", "0"], capture_output=True, text=True, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would repack 1 packs" in dry.stdout
    bad = subprocess.run([*run, "--grace", "a week"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    waited = subprocess.run([*run, "--grace", "7d"], capture_output=True, text=True, env=env)
    assert waited.returncode == 0 and "until their grace period ends" in waited.stdout
    done = subprocess.run([*run, "--grace", "0s"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "delete" in done.stdout
