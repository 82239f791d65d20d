"""The public API: kloset.backup/create/open, snapshot lookup and removal, and the completeness of
``kloset.__all__``."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pandas as pd
import pytest

import kloset
import kloset.errors


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a\n")
    (root / "sub" / "b.csv").write_text("x,y\n1,2\n")
    return root


def test_backup_into_a_store_returns_the_new_snapshot(store: kloset.Store, src: Path) -> None:
    snap = kloset.backup(str(src), store=store, tags=["daily", "test"], progress=False, name="nightly",
                         job="j1")

    assert isinstance(snap, kloset.Snapshot)
    assert snap.tags == ["daily", "test"]
    assert (snap.header.name, snap.header.job) == ("nightly", "j1")
    assert snap.root == str(src)
    assert snap.summary.files == 2
    assert store.snapshot(snap.id).read_text(f"{src}/sub/b.csv") == "x,y\n1,2\n"
    assert snap.short_id == snap.id[:8] and len(snap.id) == 64
    assert snap.short_id in repr(snap)


def test_backup_into_a_location_opens_the_store_and_the_snapshot_stays_readable(
        store: kloset.Store, store_path: Path, src: Path) -> None:
    snap = kloset.backup(str(src), store=str(store_path), progress=False)

    assert snap.read_text(f"{src}/a.txt") == "a\n"
    assert list(snap.files(["path"])["path"]) == [str(src), f"{src}/a.txt", f"{src}/sub", f"{src}/sub/b.csv"]
    assert [s.id for s in kloset.open(str(store_path)).snapshots()] == [snap.id]


def test_backup_of_an_importer_object(store: kloset.Store, src: Path) -> None:
    from kloset.connectors.fs.importer import FSImporter

    snap = kloset.backup(FSImporter({"location": str(src)}), store=store, progress=False)

    assert snap.summary.files == 2


def test_backup_without_a_store_creates_the_default_encrypted_store(
        src: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PASSPHRASE", "default pw")

    snap = kloset.backup(str(src), progress=False)

    assert kloset.default_location() == str(isolated_env / "data" / "kloset" / "store")
    default = kloset.open()
    assert default.encrypted
    assert [s.id for s in default.snapshots()] == [snap.id]


def test_the_default_location_comes_from_the_environment(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_REPOSITORY", str(store_path))
    kloset.create(str(store_path), plaintext=True)

    assert kloset.default_location() == str(store_path)
    assert kloset.open().location == str(store_path)


def test_creating_a_store_where_one_exists_is_refused_and_harmless(store: kloset.Store, store_path: Path,
                                                                  src: Path) -> None:
    snap = store.backup(str(src))

    with pytest.raises(kloset.ConfigError):
        kloset.create(str(store_path), plaintext=True)

    reopened = kloset.open(str(store_path))
    assert reopened.id == store.id
    assert [s.id for s in reopened.snapshots()] == [snap.id]


def test_opening_where_there_is_no_store_is_store_not_found(tmp_path: Path) -> None:
    (tmp_path / "not-a-store").mkdir()
    (tmp_path / "not-a-store" / "file").write_text("x")

    for where in (tmp_path / "missing", tmp_path / "not-a-store"):
        with pytest.raises(kloset.StoreNotFound):
            kloset.open(str(where))


def test_snapshots_are_listed_oldest_first(store: kloset.Store, src: Path) -> None:
    made = [store.backup(str(src), tags=[str(i)]).id for i in range(3)]

    listed = store.snapshots()

    assert [s.id for s in listed] == made
    assert [s.timestamp for s in listed] == sorted(s.timestamp for s in listed)
    assert [s.id for s in kloset.open(store.location).snapshots()] == made
    frame = store.snapshots_frame()
    assert list(frame["snapshot_id"]) == made
    assert {"short_id", "timestamp", "root", "tags", "files", "size", "stored"} <= set(frame.columns)


def test_a_snapshot_by_latest_or_by_a_unique_prefix(store: kloset.Store, src: Path) -> None:
    first = store.backup(str(src))
    last = store.backup(str(src))
    n = next(i for i in range(1, 64) if first.id[:i] != last.id[:i])

    assert store.snapshot().id == store.snapshot("latest").id == last.id
    assert store.snapshot(first.id).id == first.id
    assert store.snapshot(first.id[:n]).id == first.id
    assert store.snapshot(first.short_id.upper()).id == first.id


@pytest.mark.parametrize("ref", ["", "zz", "0" * 65])
def test_an_unknown_snapshot_is_not_found(store: kloset.Store, src: Path, ref: str) -> None:
    snap = store.backup(str(src))

    with pytest.raises(kloset.NotFound):
        store.snapshot(ref if ref != "0" * 65 else snap.id + "0")


def test_latest_of_an_empty_store_is_not_found(store: kloset.Store) -> None:
    assert store.snapshots() == []
    with pytest.raises(kloset.NotFound):
        store.snapshot("latest")


def test_an_ambiguous_prefix_is_an_error(store: kloset.Store, src: Path) -> None:
    ids = [store.backup(str(src)).id for _ in range(17)]  # 17 IDs: two share a first hex digit
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)

    with pytest.raises(kloset.ConfigError, match="ambiguous"):
        store.snapshot(shared)


def test_rm_forgets_snapshots(store: kloset.Store, src: Path, tmp_path: Path) -> None:
    a, b, c = (store.backup(str(src)) for _ in range(3))

    assert store.rm(a.id, c.short_id) == [a.id, c.id]

    assert [s.id for s in store.snapshots()] == [b.id]
    reopened = kloset.open(store.location)
    assert [s.id for s in reopened.snapshots()] == [b.id]
    with pytest.raises(kloset.NotFound):
        reopened.snapshot(a.id)
    with pytest.raises(kloset.NotFound):
        reopened.rm(a.id)
    assert reopened.check().ok
    reopened.snapshot(b.id).restore(tmp_path / "out")
    assert (tmp_path / "out" / "sub" / "b.csv").read_text() == "x,y\n1,2\n"
    assert reopened.rm("latest") == [b.id]
    assert reopened.snapshots() == []


def test_an_open_store_sees_snapshots_made_by_others_after_it_was_opened(
        store: kloset.Store, store_path: Path, src: Path) -> None:
    first = store.backup(str(src))
    other = kloset.open(str(store_path))
    second = other.backup(str(src))

    assert [s.id for s in store.snapshots()] == [first.id, second.id]
    assert store.snapshot("latest").id == second.id


def test_locate_finds_entries_by_name_or_path(store: kloset.Store, src: Path) -> None:
    snap = store.backup(str(src))

    hits = [(s.id, p) for s, p in store.locate("*.csv")]

    assert hits == [(snap.id, f"{src}/sub/b.csv")]
    assert [p for _, p in store.locate(f"{src}/sub*")] == [f"{src}/sub", f"{src}/sub/b.csv"]


def test_info_and_repr_describe_the_store(store: kloset.Store, src: Path) -> None:
    store.backup(str(src))

    info = store.info()

    assert info["snapshots"] == 1 and info["encrypted"] is False and info["id"] == store.id
    assert info["packs"] >= 2 and info["blobs"] > 0 and info["size"] > 0
    assert "plaintext" in repr(store) and "1 snapshots" in repr(store)


def test_a_store_is_a_context_manager(store_path: Path, src: Path) -> None:
    with kloset.create(str(store_path), plaintext=True) as s:
        s.backup(str(src))
    with kloset.open(str(store_path)) as s:
        assert len(s.snapshots()) == 1


def test_every_name_in_all_is_importable() -> None:
    for name in kloset.__all__:
        assert getattr(kloset, name) is not None, name
    assert len(set(kloset.__all__)) == len(kloset.__all__)
    namespace: dict[str, object] = {}
    exec("from kloset import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(kloset.__all__)


def test_every_public_class_and_function_of_kloset_is_in_all() -> None:
    public = {name for name, obj in vars(kloset).items()
              if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
              and getattr(obj, "__module__", "").startswith("kloset")}

    assert public - set(kloset.__all__) == set()


def test_every_error_of_the_tree_is_public_with_its_own_exit_code() -> None:
    errors = [getattr(kloset.errors, n) for n in kloset.errors.__all__]

    assert all(issubclass(e, kloset.KlosetError) for e in errors)
    assert set(kloset.errors.__all__) <= set(kloset.__all__)
    codes = {e.exit_code for e in errors if "exit_code" in vars(e) or e is kloset.KlosetError}
    assert len(codes) == len([e for e in errors if "exit_code" in vars(e) or e is kloset.KlosetError])


def test_files_frame_of_a_snapshot_is_a_dataframe(store: kloset.Store, src: Path) -> None:
    snap = store.backup(str(src))

    df = snap.files()

    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert isinstance(snap.errors(), pd.DataFrame) and snap.errors().empty
    assert os.fsdecode(df["path"].iloc[-1]) == f"{src}/sub/b.csv"


def test_a_connector_config_names_a_store_a_source_and_a_destination(tmp_path: Path, src: Path) -> None:
    # Connectors that need keys are named by their whole config; the keys reach each connector.
    store = kloset.create({"location": str(tmp_path / "store"), "unused_key": "x"}, plaintext=True)
    assert store.location == str(tmp_path / "store")
    snap = store.backup({"location": str(src)}, progress=False)
    snap.restore({"location": str(tmp_path / "out")})
    assert (tmp_path / "out" / "sub" / "b.csv").read_text() == "x,y\n1,2\n"
    with kloset.open({"location": str(tmp_path / "store")}) as again:
        assert again.snapshot(snap.id).summary.files == 2
