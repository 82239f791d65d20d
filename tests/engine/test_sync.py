"""Syncing snapshots between two real fs stores: what travels, what stays, and what the copies hold."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kloset
from kloset import AuthenticationError, ConfigError, NotFound, StoreNotFound, TransientError
from kloset.chunking import ChunkingParams
from kloset.encryption import KDFParams
from kloset.lifecycle.sync import natural_key

from .importers import CraftedImporter, HookedImporter, dir_record, file_record
from .trees import RichTree, assert_same_tree, build_many_files, flip_byte, packfiles, states

MiB = 1 << 20


def plaintext(path: Path, **kwargs: Any) -> kloset.Store:
    return kloset.Store.create(str(path), plaintext=True, **kwargs)


def encrypted(path: Path, passphrase: str) -> kloset.Store:
    # Argon2id at its cheapest: the encrypted stores of these tests are about passphrases, not the KDF.
    kdf = KDFParams(salt=os.urandom(16), iterations=1, lanes=1, memory_kib=64)
    return kloset.Store.create(str(path), passphrase=passphrase, kdf=kdf)


def files_of(snap: kloset.Snapshot, but: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The files rows but for what names content in one store only (and the columns ``but``)."""
    return [{k: v for k, v in row.items() if k != "object_id" and k not in but} for row in snap.entries()]


def assert_same_snapshot(a: kloset.Snapshot, b: kloset.Snapshot, but: tuple[str, ...] = ()) -> None:
    ha, hb = a.header, b.header
    assert natural_key(ha) == natural_key(hb)
    for name in ("tags", "username", "os", "arch", "name", "category", "environment", "perimeter", "job",
                 "command_line", "duration_ns"):
        assert getattr(ha, name) == getattr(hb, name), name
    assert files_of(a, but) == files_of(b, but)
    for table in ("xattrs", "errors"):
        assert a.table(table).to_pylist() == b.table(table).to_pylist(), table
    s, t = ha.summary, hb.summary
    assert (s.files, s.dirs, s.symlinks, s.others, s.errors, s.size) == (t.files, t.dirs, t.symlinks, t.others,
                                                                          t.errors, t.size)


def by_key(store: kloset.Store) -> dict[tuple[int, str, str, str, str], kloset.Snapshot]:
    return {natural_key(s.header): s for s in store.snapshots()}


@pytest.fixture
def other(tmp_path: Path) -> Iterator[kloset.Store]:
    s = plaintext(tmp_path / "other")
    yield s
    s.close()


def test_sync_copies_every_snapshot_with_its_labels_and_content(store: kloset.Store, other: kloset.Store,
                                                                 rich_tree: RichTree, tmp_path: Path) -> None:
    first = store.backup(str(rich_tree.root), tags=["daily"], name="home", job="nightly")
    (rich_tree.root / "added.txt").write_text("new\n")
    second = store.backup(str(rich_tree.root), tags=["weekly"])
    report = store.sync(other)
    assert [s.copied for s in report.snapshots] == [True, True]
    assert [s.source_id for s in report.snapshots] == [first.id, second.id]
    copies = by_key(other)
    assert len(copies) == 2
    for snap in (first, second):
        copy = copies[natural_key(snap.header)]
        assert copy.id != snap.id  # each store names content with its own key
        assert_same_snapshot(snap, copy)
    copy = copies[natural_key(second.header)]
    assert copy.restore(tmp_path / "out").errors == []
    second.restore(tmp_path / "ref")
    assert_same_tree(tmp_path / "ref", tmp_path / "out")
    assert other.check().ok


def test_sync_of_chosen_snapshots_copies_only_those(store: kloset.Store, other: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("one\n")
    first = store.backup(str(src))
    (src / "a.txt").write_text("two\n")
    second = store.backup(str(src))
    report = store.sync(other, snapshots=[first.short_id])
    assert [(s.source_id, s.copied) for s in report.snapshots] == [(first.id, True)]
    assert list(by_key(other)) == [natural_key(first.header)]
    assert other.snapshot("latest").read_text(str(src / "a.txt")) == "one\n"
    with pytest.raises(NotFound):
        store.sync(other, snapshots=["ffffffff"])
    assert second.id not in {s.source_id for s in store.sync(other, snapshots=["latest"], direction="from").snapshots}


def test_sync_run_again_copies_and_writes_nothing(store: kloset.Store, other: kloset.Store, rich_tree: RichTree,
                                                  tmp_path: Path) -> None:
    store.backup(str(rich_tree.root))
    store.sync(other)
    before = sorted(p.name for p in (tmp_path / "other").rglob("*") if p.is_file())
    report = store.sync(other)
    assert (report.copied, report.skipped, report.stored) == (0, 1, 0)
    assert sorted(p.name for p in (tmp_path / "other").rglob("*") if p.is_file()) == before


def test_sync_of_a_new_snapshot_stores_only_new_content(store: kloset.Store, other: kloset.Store,
                                                        tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_many_files(src, 4, 50)
    (src / "old.bin").write_bytes(os.urandom(3 * MiB))
    store.backup(str(src))
    first = store.sync(other).snapshots[0]
    assert first.stored > 3 * MiB
    (src / "new.bin").write_bytes(os.urandom(MiB))
    store.backup(str(src))
    second = store.sync(other)
    assert (second.copied, second.skipped) == (1, 1)
    copied = second.snapshots[-1]
    assert MiB <= copied.stored < MiB + 256 * 1024  # the new file and a little metadata
    assert copied.reused_files == copied.files - 1  # every other file taken from the previous copy


def test_sync_from_and_with_fill_the_side_that_lacks(store: kloset.Store, other: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("here\n")
    mine = store.backup(str(src))
    (src / "f").write_text("there\n")
    theirs = other.backup(str(src))
    report = store.sync(other, direction="from")
    assert [(s.source_id, s.direction, s.copied) for s in report.snapshots] == [(theirs.id, "from", True)]
    assert set(by_key(store)) == {natural_key(mine.header), natural_key(theirs.header)}
    assert natural_key(mine.header) not in by_key(other)
    report = store.sync(other, direction="with")
    assert [(s.direction, s.copied) for s in report.snapshots] == [("to", True), ("to", False), ("from", False),
                                                                     ("from", False)]
    assert set(by_key(other)) == set(by_key(store))
    assert by_key(other)[natural_key(mine.header)].read_text(str(src / "f")) == "here\n"


def test_sync_between_encrypted_stores_of_different_passphrases(tmp_path: Path, rich_tree: RichTree) -> None:
    a = encrypted(tmp_path / "a", "first secret")
    b = encrypted(tmp_path / "b", "second secret")
    snap = a.backup(str(rich_tree.root))
    assert a.sync(b).copied == 1
    b.close()
    with pytest.raises(AuthenticationError):
        kloset.open(str(tmp_path / "b"), passphrase="first secret")
    reopened = kloset.open(str(tmp_path / "b"), passphrase="second secret")
    copy = reopened.snapshot("latest")
    assert_same_snapshot(snap, copy)
    assert copy.read_bytes(str(rich_tree.root / "big.bin")) == rich_tree.big
    assert reopened.check().ok


def test_sync_to_a_store_of_other_chunking_cuts_content_anew(store: kloset.Store, rich_tree: RichTree,
                                                             tmp_path: Path) -> None:
    small = plaintext(tmp_path / "small", chunking=ChunkingParams(min=16 * 1024, normal=64 * 1024, max=256 * 1024))
    snap = store.backup(str(rich_tree.root))
    assert store.sync(small).copied == 1
    copy = small.snapshot("latest")
    assert_same_snapshot(snap, copy, but=("chunks", "entropy"))  # entropy samples the start of each chunk
    big = str(rich_tree.root / "big.bin")
    assert copy.stat(big)["chunks"] > 20 > snap.stat(big)["chunks"]
    assert copy.read_bytes(big) == rich_tree.big
    # Back the other way: cut with the defaults again, the content dedups against the original's.
    back = plaintext(tmp_path / "back")
    assert small.sync(back).copied == 1
    assert back.snapshot("latest").stat(big)["chunks"] == snap.stat(big)["chunks"]
    copy.restore(tmp_path / "out")
    snap.restore(tmp_path / "ref")
    assert_same_tree(tmp_path / "ref", tmp_path / "out")


def test_sync_keeps_errors_symlinks_and_attributes(store: kloset.Store, other: kloset.Store, rich_tree: RichTree,
                                                   tmp_path: Path) -> None:
    def hook(rec: kloset.Record) -> kloset.Record | None:
        if rec.pathname.endswith("/hello.txt"):
            return kloset.Record(rec.pathname, error="permission denied")
        if rec.pathname.endswith("/script.sh") and rec.info is not None:
            rec.info.size += 5  # content shorter than its metadata said: a row and an error
        return rec

    snap = store.backup(HookedImporter(rich_tree.root, hook))
    assert snap.summary.errors == 2
    store.sync(other)
    copy = other.snapshot("latest")
    assert_same_snapshot(snap, copy)
    assert {r["path"] for r in copy.table("errors").to_pylist()} == {str(rich_tree.root / "hello.txt"),
                                                                      str(rich_tree.root / "script.sh")}
    assert copy.stat(str(rich_tree.root / "links" / "dangling"))["target"] == "/nonexistent/target"
    if rich_tree.xattrs:
        assert {(r["name"], r["value"]) for r in copy.table("xattrs").to_pylist()} == {
            ("user.kind", b"\x00binary\xff")}  # hello.txt's attribute went with its error


def test_sync_reads_content_that_changed_under_unchanged_metadata(store: kloset.Store, other: kloset.Store) -> None:
    # Two snapshots of one source whose file has the same metadata and other content (the second taken
    # without a parent, so it read the file): the copy of the second must not take the first's content.
    def source(data: bytes) -> CraftedImporter:
        return CraftedImporter("/data", [dir_record("/data"), file_record("/data/f.txt", data)])

    store.backup(source(b"version one\n"))
    store.sync(other)
    store.backup(source(b"version two\n"), parent=False)
    (copied,) = [s for s in store.sync(other).snapshots if s.copied]
    assert other.snapshot(copied.target_id).read_bytes("/data/f.txt") == b"version two\n"
    assert copied.reused_files == 0


@pytest.mark.parametrize("chunking", [None, ChunkingParams(min=4096, normal=16384, max=65536)],
                         ids=["chunk for chunk", "cut anew"])
def test_sync_of_damaged_content_copies_the_rest_and_says_which_files(
        store: kloset.Store, tmp_path: Path, chunking: ChunkingParams | None) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.bin").write_bytes(os.urandom(100_000))
    snap = store.backup(str(src))
    flip_byte(packfiles(tmp_path / "store")[0], 10)  # the data pack's first blob: one file's only chunk
    other = plaintext(tmp_path / "other", **({"chunking": chunking} if chunking else {}))
    (copied,) = store.sync(other).snapshots
    assert copied.copied and copied.errors == 1
    copy = other.snapshot("latest")
    (bad,) = copy.table("errors").to_pylist()
    assert "packfile" in bad["error"]
    for row in snap.entries():
        if row["type"] == "file" and row["path"] != bad["path"]:
            assert copy.read_bytes(row["path"]) == Path(row["path"]).read_bytes()


KILLED = textwrap.dedent("""
    import os, signal, sys
    import kloset
    from kloset.lifecycle.sync import sync
    from kloset.repository.transaction import Transaction

    written = Transaction.checkpoint

    def checkpoint(self):
        # Killed right after its second checkpoint is on the store: mid-copy, at a known point.
        sid = written(self)
        if sid is not None and sum(len(os.listdir(b.path)) for b in os.scandir(sys.argv[3])) >= 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return sid

    Transaction.checkpoint = checkpoint
    sync(kloset.open(sys.argv[1]), kloset.open(sys.argv[2]), checkpoint=1 << 20)
""")


def test_sync_killed_midway_resumes_from_its_checkpoints(store: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"f{i:02d}.bin").write_bytes(os.urandom(MiB))
    snap = store.backup(str(src))
    target = tmp_path / "target"
    plaintext(target, pack_max_size=MiB).close()
    proc = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path / "store"), str(target),
                           str(target / "states")], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert len(states(target)) == 2  # two checkpoints, no snapshot
    with kloset.open(str(target)) as t:
        assert t.snapshots() == []
        resumed = store.sync(t).snapshots[0]
        copy = t.snapshot("latest")
        assert copy.read_bytes(str(src / "f07.bin")) == (src / "f07.bin").read_bytes()
        assert t.check().ok
    fresh = plaintext(tmp_path / "fresh", pack_max_size=MiB)
    whole = store.sync(fresh).snapshots[0]
    assert resumed.stored <= whole.stored - 2 * MiB  # at least the two checkpointed packs were not sent again
    assert snap.summary.files == copy.summary.files


def test_backup_checkpoints_list_its_packs_as_it_goes(tmp_path: Path) -> None:
    # What a sync relies on to resume, as a backup does it: states of the packs uploaded so far, then
    # the commit's state, which lists only the packs that came after the last checkpoint.
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}.bin").write_bytes(os.urandom(MiB))
    with plaintext(tmp_path / "store", pack_max_size=MiB) as store:
        snap = store.backup(str(src), checkpoint=MiB, processes=0)
        assert len(states(tmp_path / "store")) >= 4
        assert [s.id for s in store.snapshots()] == [snap.id]
        assert snap.read_bytes(str(src / "f3.bin")) == (src / "f3.bin").read_bytes()
        assert store.check().ok
    shutil.rmtree(os.environ["XDG_CACHE_HOME"])  # the index is then rebuilt from the states alone
    with kloset.open(str(tmp_path / "store")) as again:
        assert again.snapshot("latest").read_bytes(str(src / "f5.bin")) == (src / "f5.bin").read_bytes()


def test_sync_refuses_a_wrong_passphrase_before_writing(tmp_path: Path, store: kloset.Store,
                                                        rich_tree: RichTree) -> None:
    encrypted(tmp_path / "b", "right").close()
    store.backup(str(rich_tree.root))
    before = sorted(str(p) for p in (tmp_path / "b").rglob("*"))
    with pytest.raises(AuthenticationError):
        store.sync(kloset.open(str(tmp_path / "b"), passphrase="wrong"))
    assert sorted(str(p) for p in (tmp_path / "b").rglob("*")) == before


def test_sync_with_an_unreachable_store_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound):
        kloset.open(str(tmp_path / "nowhere"))
    # Nothing listens on port 1: the connection is refused (and not retried, to keep the test short).
    with pytest.raises(TransientError, match="cannot connect"):
        kloset.open({"location": "sftp://127.0.0.1:1/store", "retries": "0"})


def test_sync_rejects_bad_arguments(store: kloset.Store, other: kloset.Store) -> None:
    with pytest.raises(ConfigError, match="direction"):
        store.sync(other, direction="sideways")
    with pytest.raises(ConfigError, match="same store"):
        store.sync(store)
    assert packfiles(Path(str(other.location))) == []
