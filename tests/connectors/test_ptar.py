"""The ptar store: one file, written once, sealed by close, read by ranges; and a whole backup in it."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kloset
from kloset.connectors.ptar import layout
from kloset.connectors.ptar.store import PtarStore
from kloset.errors import ConfigError, IntegrityError, KlosetError, NotFound, StoreNotFound, Unsupported
from kloset.objects import ResourceType
from kloset.storage import Mode
from kloset.testing.storage_suite import CONFIG, payload, resource_id

PACK, STATE, LOCK = ResourceType.PACKFILE, ResourceType.STATE, ResourceType.LOCK


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def location(tmp_path: Path) -> str:
    return f"ptar://{tmp_path / 'store.ptar'}"


def sealed(tmp_path: Path, resources: int = 3) -> Path:
    """A sealed ptar holding ``resources`` packs and one state; returns its path."""
    store = PtarStore({"location": location(tmp_path)})
    store.create(CONFIG)
    for n in range(resources):
        store.put(PACK, resource_id(n), payload(n, 1000 + n))
    store.put(STATE, resource_id(0, "state"), b"state")
    store.close()
    return tmp_path / "store.ptar"


def in_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_resources_round_trip_through_the_seal(tmp_path: Path) -> None:
    path = sealed(tmp_path)
    store = PtarStore({"location": str(path)})  # a bare path ending in .ptar
    assert store.open() == CONFIG
    assert sorted(store.list(PACK)) == sorted(resource_id(n) for n in range(3))
    assert store.list(STATE) == [resource_id(0, "state")]
    assert store.list(LOCK) == []
    for n in range(3):
        assert store.get(PACK, resource_id(n)) == payload(n, 1000 + n)
    assert store.get(PACK, resource_id(2), 10, 20) == payload(2, 1002)[10:30]
    assert store.get(PACK, resource_id(2), 990) == payload(2, 1002)[990:]
    assert store.get(PACK, resource_id(2), 5000, 10) == b""
    with pytest.raises(NotFound):
        store.get(PACK, resource_id(9))
    assert store.size() == path.stat().st_size
    store.close()


def test_the_file_appears_only_when_sealed_and_no_temporary_is_left(tmp_path: Path) -> None:
    store = PtarStore({"location": location(tmp_path)})
    store.create(CONFIG)
    store.put(PACK, resource_id(1), b"pack")
    store.put(LOCK, resource_id(2), b"lock")
    assert not (tmp_path / "store.ptar").exists()
    assert store.mode() == Mode.READ | Mode.WRITE
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["store.ptar"]
    data = (tmp_path / "store.ptar").read_bytes()
    assert data.startswith(layout.MAGIC) and data.endswith(layout.MAGIC)
    assert b"lock" not in data  # locks are never sealed into the file


def test_a_sealed_file_is_read_only(tmp_path: Path) -> None:
    store = PtarStore({"location": location(tmp_path)})
    store.create(CONFIG)
    store.put(PACK, resource_id(1), b"pack")
    store.close()
    assert store.mode() == Mode.READ
    for rtype in ResourceType:
        with pytest.raises(Unsupported):
            store.put(rtype, resource_id(3), b"more")
        with pytest.raises(Unsupported):
            store.delete(rtype, resource_id(1))
    with pytest.raises(ConfigError):
        store.create(CONFIG)
    assert store.get(PACK, resource_id(1)) == b"pack"


def test_create_refuses_an_existing_file_and_a_file_being_written(tmp_path: Path) -> None:
    path = tmp_path / "store.ptar"
    path.write_bytes(b"something else")
    with pytest.raises(ConfigError):
        PtarStore({"location": str(path)}).create(CONFIG)
    assert path.read_bytes() == b"something else"
    path.unlink()
    PtarStore({"location": str(path)}).create(CONFIG)
    child = in_child(f"""
        from kloset.connectors.ptar.store import PtarStore
        from kloset.errors import ConfigError
        try:
            PtarStore({{"location": {str(path)!r}}}).create(b"other")
        except ConfigError as e:
            print("refused:", e)
    """)
    assert "refused:" in child.stdout and "being written" in child.stdout


@pytest.mark.parametrize("cut", [1, layout.FOOTER.size, layout.FOOTER.size + layout.ENTRY.size, 500])
def test_a_truncated_file_is_an_integrity_error_at_open(tmp_path: Path, cut: int) -> None:
    path = sealed(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    with pytest.raises(IntegrityError, match="ptar"):
        PtarStore({"location": str(path)}).open()


@pytest.mark.parametrize("where", ["magic", "version", "table offset", "table", "digest", "header"])
def test_a_corrupted_footer_table_or_header_is_an_integrity_error(tmp_path: Path, where: str) -> None:
    path = sealed(tmp_path)
    data = bytearray(path.read_bytes())
    footer = len(data) - layout.FOOTER.size
    table_offset = int.from_bytes(data[footer:footer + 8], "little")
    at = {"magic": len(data) - 1, "version": footer + 48, "table offset": footer, "table": table_offset + 40,
          "digest": footer + 20, "header": 9}[where]
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="ptar"):
        PtarStore({"location": str(path)}).open()


def test_a_file_that_is_not_a_ptar_is_an_integrity_error_and_a_missing_one_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "other.ptar").write_bytes(os.urandom(4096))
    with pytest.raises(IntegrityError):
        PtarStore({"location": str(tmp_path / "other.ptar")}).open()
    with pytest.raises(StoreNotFound):
        PtarStore({"location": str(tmp_path / "none.ptar")}).open()
    (tmp_path / "dir.ptar").mkdir()
    with pytest.raises(KlosetError, match="ptar: open"):
        PtarStore({"location": str(tmp_path / "dir.ptar")}).open()
    with pytest.raises(NotFound):
        PtarStore({"location": str(tmp_path / "no-such-dir" / "x.ptar")}).create(CONFIG)
    with pytest.raises(ConfigError):
        PtarStore({"location": "ptar://"})


def test_a_crash_before_sealing_leaves_no_ptar_and_the_next_create_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "store.ptar"
    child = in_child(f"""
        import os
        from kloset.connectors.ptar.store import PtarStore
        from kloset.objects import ResourceType
        store = PtarStore({{"location": {str(path)!r}}})
        store.create(b"config")
        store.put(ResourceType.PACKFILE, bytes(32), b"x" * 100_000)
        os._exit(9)
    """)
    assert child.returncode == 9, child.stderr
    assert not path.exists()
    with pytest.raises(StoreNotFound):
        PtarStore({"location": str(path)}).open()
    store = PtarStore({"location": str(path)})
    store.create(CONFIG)  # what the crashed writer left is nobody's any more
    store.close()
    assert PtarStore({"location": str(path)}).list(PACK) == []


def test_another_process_joins_the_file_being_written(tmp_path: Path) -> None:
    store = PtarStore({"location": location(tmp_path)})
    store.create(CONFIG)
    store.put(PACK, resource_id(1), b"from the parent")
    child = in_child(f"""
        from kloset.connectors.ptar.store import PtarStore
        from kloset.errors import Unsupported
        from kloset.objects import ResourceType
        store = PtarStore({{"location": {location(tmp_path)!r}}})  # rebuilt from the config alone
        store.put(ResourceType.PACKFILE, {resource_id(2)!r}, b"from a worker" * 1000)
        print(store.get(ResourceType.PACKFILE, {resource_id(1)!r}).decode())
        try:
            store.put(ResourceType.LOCK, bytes(32), b"a second writer's lock")
        except Unsupported as e:
            print("lock refused:", e)
        store.close()
    """)
    assert child.stdout.splitlines()[0] == "from the parent", child.stderr
    assert "lock refused: ptar:" in child.stdout
    assert store.get(PACK, resource_id(2)) == b"from a worker" * 1000
    store.close()
    reopened = PtarStore({"location": location(tmp_path)})
    assert sorted(reopened.list(PACK)) == sorted([resource_id(1), resource_id(2)])
    assert reopened.get(PACK, resource_id(2), 0, 13) == b"from a worker"


def test_a_deleted_resource_is_not_sealed(tmp_path: Path) -> None:
    store = PtarStore({"location": location(tmp_path)})
    store.create(CONFIG)
    store.put(STATE, resource_id(1), b"one")
    store.put(STATE, resource_id(2), b"two")
    store.delete(STATE, resource_id(1))
    store.close()
    assert PtarStore({"location": location(tmp_path)}).list(STATE) == [resource_id(2)]


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "small.txt").write_text("hello\n")
    (root / "sub" / "random.bin").write_bytes(os.urandom(3 << 20))
    (root / "sub" / "text.txt").write_bytes(b"the same line again\n" * 50_000)
    (root / "link").symlink_to("small.txt")
    os.chmod(root / "small.txt", 0o640)
    return root


def test_a_backup_into_a_ptar_restores_byte_for_byte_and_checks_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kloset.snapshot.backup as backup

    # The backup's worker processes start at once and are waited for, so they write into the file too.
    monkeypatch.setattr(backup, "_PROCESSES_AFTER", 0)
    monkeypatch.setattr(backup, "_AWAIT_WORKERS", True)
    src = _tree(tmp_path / "src")
    with kloset.create(str(tmp_path / "b.ptar"), passphrase="pw") as store:
        snap = store.backup(str(src), processes=2)
        assert snap.summary.files == 3
    with kloset.open(str(tmp_path / "b.ptar"), passphrase="pw") as store:
        assert store.storage.mode() == Mode.READ
        report = store.check()
        assert report.ok
        assert report.packs >= 2
        store.snapshot().restore(tmp_path / "out")
    _, mismatch, errors = filecmp.cmpfiles(src, tmp_path / "out", ["small.txt", "sub/random.bin",
                                                                       "sub/text.txt"], shallow=False)
    assert (mismatch, errors) == ([], [])
    assert os.readlink(tmp_path / "out" / "link") == "small.txt"
    assert os.stat(tmp_path / "out" / "small.txt").st_mode & 0o777 == 0o640


def test_a_sealed_ptar_is_read_by_another_process_and_refuses_a_backup(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    path = tmp_path / "c.ptar"
    with kloset.create(str(path), plaintext=True) as store:
        store.backup(str(src))
    child = in_child(f"""
        import kloset
        with kloset.open({str(path)!r}) as store:
            print(store.snapshot().read_text({str(src / 'small.txt')!r}), end="")
    """)
    assert child.stdout == "hello\n", child.stderr
    with kloset.open(str(path)) as store, pytest.raises(Unsupported):
        store.backup(str(src))
