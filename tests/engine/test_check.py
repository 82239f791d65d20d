"""Damage to a store: `check` finds it and names what it hurts, restores save what is intact, and every
read of damaged bytes is a typed error, never wrong content."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import msgpack
import pyarrow as pa
import pytest

import kloset
from kloset.objects import BlobType
from kloset.snapshot.header import Header, Piece
from kloset.snapshot.index import FILES_SCHEMA, encode_piece

from .trees import RichTree, flip_byte, manifest, packfiles, states


def files_using(snap: kloset.Snapshot, blob_ids: set[bytes]) -> set[str]:
    """Paths of the files whose content lies (partly) in one of ``blob_ids``."""
    reader = snap._reader
    return {reader_path(row) for row in reader.rows("files")
            if row["type"] == "file" and any(c in blob_ids for c, _ in reader.chunks_of(row))}


def reader_path(row: dict[str, object]) -> str:
    raw = row["raw_path"]
    return os.fsdecode(raw) if isinstance(raw, bytes) else str(row["path"])


def blobs_of_pack(store: kloset.Store, pack: Path) -> list[tuple[bytes, int, int]]:
    """(blob ID, offset, length) of every indexed blob of a pack, by offset."""
    idx = store._repo.index
    no = idx.pack_no[bytes.fromhex(pack.name)]
    return sorted(((bid, off, n) for bid, _, p, off, n in idx.entries() if p == no), key=lambda b: b[1])


def blob_at(store: kloset.Store, pack: Path, offset: int) -> bytes:
    for bid, off, n in blobs_of_pack(store, pack):
        if off <= offset < off + n:
            return bid
    raise AssertionError(f"no blob at offset {offset} of {pack.name}")


def commit_header(store: kloset.Store, header: Header) -> str:
    """Store a (crafted) snapshot header as a new snapshot; return its ID."""
    repo = store._repo
    with repo.lock():
        txn = repo.transaction()
        sid, _ = txn.put(BlobType.SNAPSHOT, header.encode())
        txn.commit()
    return sid.hex()


def restored_except(src: Path, out: Path, damaged: set[str]) -> None:
    """``out`` holds every entry of ``src`` but the damaged files, each intact."""
    want = {k: v for k, v in manifest(src).items() if str(src / os.fsdecode(k)) not in damaged}
    got = manifest(out)
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == v, k


def test_a_healthy_store_checks_ok(store: kloset.Store, rich_tree: RichTree) -> None:
    store.backup(str(rich_tree.root))
    store.backup(str(rich_tree.root))

    report = store.check()

    assert report.ok
    assert report.snapshots == 2
    assert report.packs == len(packfiles(Path(store.location)))
    assert report.blobs == len(store._repo.index.blobs)
    assert store.check(read_data=False).ok


@pytest.fixture(params=["plaintext", "encrypted"])
def any_store(request: pytest.FixtureRequest, store_path: Path) -> kloset.Store:
    if request.param == "plaintext":
        return kloset.create(str(store_path), plaintext=True)
    return kloset.create(str(store_path), passphrase="correct horse")


def test_a_flipped_byte_in_a_data_pack_names_the_damaged_file_and_spares_the_rest(
        any_store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    store = any_store
    snap = store.backup(str(rich_tree.root))
    pack = packfiles(Path(store.location))[0]
    middle = pack.stat().st_size // 2
    hit = blob_at(store, pack, middle)
    damaged = files_using(snap, {hit})
    assert f"{rich_tree.root}/big.bin" in damaged  # the middle of the data pack is the big file's
    flip_byte(pack, middle)

    report = store.check()

    assert not report.ok
    assert pack.name in report.damaged_packs
    assert report.damaged_blobs == {hit}
    assert set(report.damaged_files[snap.short_id]) == damaged
    with pytest.raises(kloset.IntegrityError):
        snap.read_bytes(f"{rich_tree.root}/big.bin")
    restore = snap.restore(tmp_path / "out")
    assert {p for p, _ in restore.errors} == damaged
    assert all("packfile" in why or "MAC" in why or "tag" in why for _, why in restore.errors)
    restored_except(rich_tree.root, tmp_path / "out", damaged)  # no partial file left for the damaged one
    assert snap.read_text(f"{rich_tree.root}/hello.txt") == "hello, world\n"


def test_a_truncated_pack_is_reported_with_the_files_it_held(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    pack = packfiles(Path(store.location))[0]
    cut = pack.stat().st_size // 2
    lost = {bid for bid, off, n in blobs_of_pack(store, pack) if off + n > cut}
    os.truncate(pack, cut)

    report = store.check()

    assert not report.ok
    assert pack.name in report.damaged_packs
    assert lost <= report.damaged_blobs
    assert set(report.damaged_files[snap.short_id]) == files_using(snap, lost)
    restore = snap.restore(tmp_path / "out")
    assert {p for p, _ in restore.errors} == files_using(snap, lost)
    restored_except(rich_tree.root, tmp_path / "out", files_using(snap, lost))


def test_a_deleted_pack_is_reported_as_missing_blobs(store: kloset.Store, rich_tree: RichTree) -> None:
    snap = store.backup(str(rich_tree.root))
    pack = packfiles(Path(store.location))[0]
    held = {bid for bid, _, _ in blobs_of_pack(store, pack)}
    pack.unlink()

    report = store.check()

    assert not report.ok
    assert report.damaged_packs[pack.name] == "missing"
    assert held <= report.missing_blobs
    assert set(report.damaged_files[snap.short_id]) == files_using(snap, held)


def test_a_quick_check_notices_a_deleted_pack(store: kloset.Store, rich_tree: RichTree) -> None:
    store.backup(str(rich_tree.root))
    packfiles(Path(store.location))[0].unlink()

    assert not store.check(read_data=False).ok


def test_a_damaged_state_is_an_integrity_error_once_the_cache_is_gone(
        store: kloset.Store, store_path: Path, rich_tree: RichTree, isolated_env: Path) -> None:
    store.backup(str(rich_tree.root))
    (state,) = states(store_path)
    flip_byte(state, state.stat().st_size // 2)
    shutil.rmtree(isolated_env / "cache")

    reopened = kloset.open(str(store_path))

    with pytest.raises(kloset.IntegrityError):
        reopened.snapshots()


def test_check_notices_a_damaged_state_even_with_a_warm_cache(
        store: kloset.Store, store_path: Path, rich_tree: RichTree) -> None:
    store.backup(str(rich_tree.root))
    (state,) = states(store_path)
    flip_byte(state, state.stat().st_size // 2)

    assert not kloset.open(str(store_path)).check().ok


def test_the_check_command_names_a_damaged_state(store: kloset.Store, store_path: Path, rich_tree: RichTree,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from kloset.cli.main import main

    store.backup(str(rich_tree.root))
    (state,) = states(store_path)
    flip_byte(state, state.stat().st_size // 2)

    assert main(["at", str(store_path), "check"]) == 10
    out, err = capsys.readouterr()
    assert f"damaged state {state.name}:" in out and "1 states" in err


def header_location(store: kloset.Store, snap: kloset.Snapshot) -> tuple[Path, int]:
    _, pack_id, _, offset, length = store._repo.index.locate(snap.header.id)
    return Path(store.location) / "packfiles" / pack_id.hex()[:2] / pack_id.hex(), offset + length // 2


def test_a_damaged_snapshot_header_is_reported(store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    damaged = store.backup(str(rich_tree.root))
    flip_byte(*header_location(store, damaged))

    reopened = kloset.open(store.location)
    report = reopened.check()

    assert not report.ok
    assert damaged.short_id in report.damaged_snapshots
    with pytest.raises(kloset.IntegrityError):
        reopened.snapshot(damaged.id)


def test_one_damaged_snapshot_header_does_not_hide_the_others(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    damaged = store.backup(str(rich_tree.root))
    good = store.backup(str(rich_tree.root))
    flip_byte(*header_location(store, damaged))
    reopened = kloset.open(store.location)

    assert [s.id for s in reopened.snapshots()] == [good.id]
    assert reopened.snapshot("latest").id == good.id
    assert reopened.backup(str(rich_tree.root)).summary.files == good.summary.files


# -- the config -------------------------------------------------------------------------------------


def test_no_flipped_byte_of_a_plaintext_config_opens_the_store(store: kloset.Store, store_path: Path) -> None:
    config = store_path / "CONFIG"
    original = config.read_bytes()
    opened = []
    for i in range(len(original)):
        for mask in (0x01, 0x80, 0xFF):
            flip_byte(config, i, mask)
            try:
                kloset.open(str(store_path))
                opened.append((i, mask))
            except Exception:  # which errors: the next test
                pass
            config.write_bytes(original)

    assert opened == []


def test_every_flipped_byte_of_a_plaintext_config_is_a_typed_error(store: kloset.Store, store_path: Path) -> None:
    config = store_path / "CONFIG"
    original = config.read_bytes()
    untyped = []
    for i in range(len(original)):
        for mask in (0x01, 0x80, 0xFF):
            flip_byte(config, i, mask)
            try:
                kloset.open(str(store_path))
            except kloset.KlosetError:
                pass
            except Exception as e:
                untyped.append((i, mask, type(e).__name__))
            config.write_bytes(original)

    assert untyped == []


def _config_body(store_path: Path) -> dict[str, object]:
    outer = msgpack.unpackb((store_path / "CONFIG").read_bytes())
    return dict(msgpack.unpackb(outer["body"]))


@pytest.fixture(scope="module")
def encrypted_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An encrypted store with one snapshot (made once: Argon2id costs a fraction of a second)."""
    path = tmp_path_factory.mktemp("encrypted") / "store"
    kloset.Store.create(str(path), passphrase="pw")
    return path


def _flipped_copy(src: Path, dst: Path, needle: bytes, at: int = 0) -> Path:
    shutil.copytree(src, dst)
    config = dst / "CONFIG"
    offset = config.read_bytes().index(needle) + at
    flip_byte(config, offset)
    return dst


@pytest.mark.parametrize("what, error", [
    ("keys", kloset.AuthenticationError),
    ("canary", (kloset.AuthenticationError, kloset.IntegrityError)),
    ("store_id", kloset.IntegrityError),
])
def test_a_damaged_encrypted_config_is_a_typed_error(
        encrypted_store: Path, tmp_path: Path, what: str, error: type[Exception]) -> None:
    body = _config_body(encrypted_store)
    enc = body["encryption"]
    assert isinstance(enc, dict)
    needle = {"keys": enc["keys"][0], "canary": enc["canary"], "store_id": body["store_id"]}[what]
    damaged = _flipped_copy(encrypted_store, tmp_path / "copy", needle, at=len(needle) // 2)

    with pytest.raises(error):
        kloset.open(str(damaged), passphrase="pw")
    assert kloset.open(str(encrypted_store), passphrase="pw").encrypted  # the intact original still opens


_OPEN_UNDER_A_MEMORY_LIMIT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a flipped cost must not eat the host
    import kloset
    try:
        kloset.open(sys.argv[1], passphrase="pw")
    except kloset.KlosetError as e:
        print("typed", type(e).__name__)
    except BaseException as e:
        print("untyped", type(e).__name__)
    else:
        print("opened")
""")


def test_a_flipped_kdf_memory_cost_is_refused_as_damage(encrypted_store: Path, tmp_path: Path) -> None:
    damaged = _flipped_copy(encrypted_store, tmp_path / "copy", b"memory_kib\xce", at=len(b"memory_kib\xce"))
    # 65536 KiB becomes 0xff010000 KiB: about 4 TiB of memory asked of Argon2id

    out = subprocess.run([sys.executable, "-c", _OPEN_UNDER_A_MEMORY_LIMIT, str(damaged)], capture_output=True,
                         text=True, timeout=60)

    assert out.stdout.split() in (["typed", "IntegrityError"], ["typed", "ConfigError"]), out


# -- crafted snapshots whose index does not match the store ------------------------------------------


def test_a_file_whose_chunk_the_store_lacks_is_reported_missing(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    files = snap.table("files")
    paths = files.column("path").to_pylist()
    row = paths.index(f"{rich_tree.root}/hello.txt")
    ghost = os.urandom(32)
    ids = files.column("object_id").to_pylist()
    ids[row] = ghost
    files = files.set_column(files.column_names.index("object_id"), "object_id", pa.array(ids, pa.binary(32)))
    data = encode_piece(FILES_SCHEMA, {n: files.column(n) for n in files.column_names})
    repo = store._repo
    with repo.lock():
        txn = repo.transaction()
        piece_id, _ = txn.put(BlobType.FILES, data)
        header = dataclasses.replace(snap.header, tables={**snap.header.tables, "files": [
            Piece(piece_id, files.num_rows, snap.header.tables["files"][0].first)]}, nonce=os.urandom(16))
        sid, _ = txn.put(BlobType.SNAPSHOT, header.encode())
        txn.commit()
    crafted = store.snapshot(sid.hex())

    report = store.check()

    assert not report.ok
    assert report.missing_blobs == {ghost}
    assert report.damaged_files == {crafted.short_id: [f"{rich_tree.root}/hello.txt"]}
    with pytest.raises(kloset.NotFound):
        crafted.read_bytes(f"{rich_tree.root}/hello.txt")
    restore = crafted.restore(tmp_path / "out")
    assert [p for p, _ in restore.errors] == [f"{rich_tree.root}/hello.txt"]
    restored_except(rich_tree.root, tmp_path / "out", {f"{rich_tree.root}/hello.txt"})


def test_a_multi_chunk_file_missing_from_the_chunks_table_is_a_typed_error(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    crafted = store.snapshot(commit_header(store, dataclasses.replace(
        snap.header, tables={**snap.header.tables, "chunks": []}, nonce=os.urandom(16))))

    report = store.check()
    assert f"{rich_tree.root}/big.bin" in report.damaged_files[crafted.short_id]
    with pytest.raises(kloset.IntegrityError):
        crafted.open(f"{rich_tree.root}/big.bin")
    restore = crafted.restore(tmp_path / "out")
    assert f"{rich_tree.root}/big.bin" in {p for p, _ in restore.errors}
    assert (tmp_path / "out" / "hello.txt").read_text() == "hello, world\n"
