from __future__ import annotations

import errno
import grp
import os
import pwd
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from kloset.connectors.fs.importer import FSImporter
from kloset.errors import ConfigError, KlosetError, NotFound
from kloset.importer import Importer, ImporterOptions, read_exclude_file
from kloset.objects import EntryType, Record
from kloset.snapshot.order import path_key
from kloset.testing.importer_suite import ImporterConformance


class TestFSImporterConformance(ImporterConformance):
    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        return FSImporter({"location": str(tree)}, options)


class TestFSImporterInProcessConformance(ImporterConformance):
    """The same walk without its child process (``max_concurrency=1``)."""

    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        options = options or ImporterOptions()
        options.max_concurrency = 1
        return FSImporter({"location": str(tree)}, options)


def scan(root: Path | bytes, **options: object) -> dict[str, Record]:
    location = os.fsdecode(root)
    importer = FSImporter({"location": location}, ImporterOptions(**options))  # type: ignore[arg-type]
    return {r.pathname: r for r in importer.scan()}


def names(root: Path, records: dict[str, Record]) -> set[str]:
    prefix = str(root) + "/"
    return {p.removeprefix(prefix) for p in records if p != str(root)}


def read(record: Record) -> bytes:
    assert record.open is not None
    with record.open() as f:
        return f.read()


def supports_user_xattrs(path: Path) -> bool:
    probe = path / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def test_records_come_out_in_path_key_order_with_tricky_names(tmp_path: Path) -> None:
    base = os.fsencode(tmp_path)
    for name in [b"a", b"a.b", b"a-", b"A", b"\xff", b"\xc3\xa9", b"a b", b"a\nb", b"~"]:
        os.mkdir(os.path.join(base, name))
        for child in [b"z", b"0", b".", b"\xe9x"]:
            if child != b".":
                open(os.path.join(base, name, child), "wb").close()
    importer = FSImporter({"location": str(tmp_path)})
    keys = [path_key(r.pathname) for r in importer.scan()]
    assert keys == sorted(keys)
    assert len(keys) == 1 + 9 * 4


def test_location_accepts_fs_scheme_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert FSImporter({"location": f"fs://{tmp_path}"}).root == str(tmp_path)
    relative = FSImporter({"location": "sub/../sub/"}, ImporterOptions(cwd=str(tmp_path)))
    assert relative.root == str(tmp_path / "sub")


def test_identity_is_hostname_fs_and_root(tmp_path: Path) -> None:
    importer = FSImporter({"location": str(tmp_path)})
    assert (importer.origin, importer.type, importer.root) == (socket.gethostname(), "fs", str(tmp_path))
    assert FSImporter({"location": str(tmp_path)}, ImporterOptions(hostname="h1")).origin == "h1"


def test_missing_root_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        FSImporter({"location": str(tmp_path / "nope")})


def test_ping_reports_a_root_that_disappeared(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    importer = FSImporter({"location": str(root)})
    root.rmdir()
    with pytest.raises(NotFound):
        importer.ping()


def test_empty_location_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        FSImporter({"location": ""})


def test_non_utf8_names_round_trip_through_fsdecode(tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9-\xff.txt")
    with open(raw, "wb") as f:
        f.write(b"latin-1 name")
    records = scan(tmp_path)
    (name,) = names(tmp_path, records)
    assert os.fsencode(name) == b"caf\xe9-\xff.txt"
    record = records[f"{tmp_path}/{name}"]
    assert record.info is not None and record.info.name == name
    assert read(record) == b"latin-1 name"


def test_newlines_in_names_are_kept(tmp_path: Path) -> None:
    (tmp_path / "two\nlines").write_bytes(b"x")
    records = scan(tmp_path)
    assert names(tmp_path, records) == {"two\nlines"}
    assert read(records[f"{tmp_path}/two\nlines"]) == b"x"


def test_empty_file_has_size_zero_and_reads_empty(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    record = scan(tmp_path)[f"{tmp_path}/empty"]
    assert record.info is not None and record.info.size == 0
    assert read(record) == b""


def test_file_info_comes_from_lstat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    os.chmod(path, 0o640)
    st = os.lstat(path)
    info = scan(tmp_path)[str(path)].info
    assert info is not None
    assert (info.name, info.size, info.mode, info.mtime_ns, info.ino, info.dev) == (
        "f", 5, st.st_mode, st.st_mtime_ns, st.st_ino, st.st_dev
    )
    assert (info.uid, info.gid) == (st.st_uid, st.st_gid)
    assert info.username == pwd.getpwuid(st.st_uid).pw_name
    assert info.groupname == grp.getgrgid(st.st_gid).gr_name


def test_hardlinks_report_link_count_and_shared_inode(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"same")
    os.link(tmp_path / "a", tmp_path / "b")
    records = scan(tmp_path)
    a, b = records[f"{tmp_path}/a"].info, records[f"{tmp_path}/b"].info
    assert a is not None and b is not None
    assert a.nlink == b.nlink == 2
    assert (a.dev, a.ino) == (b.dev, b.ino)


def test_fifo_is_reported_without_being_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    record = scan(tmp_path)[f"{tmp_path}/pipe"]
    assert record.info is not None and record.info.type is EntryType.FIFO
    assert record.open is None and record.error is None


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(outside)
    records = scan(root)
    assert names(root, records) == {"escape"}
    record = records[f"{root}/escape"]
    assert record.info is not None and record.info.type is EntryType.SYMLINK
    assert record.target == str(outside)


def test_root_given_as_a_symlink_is_walked(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_bytes(b"x")
    (tmp_path / "alias").symlink_to(real)
    records = scan(tmp_path / "alias")
    assert names(tmp_path / "alias", records) == {"f"}
    root = records[str(tmp_path / "alias")]
    assert root.info is not None and root.info.type is EntryType.DIR


def test_open_refuses_a_file_swapped_for_a_symlink_after_the_scan(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"secret")
    (tmp_path / "f").write_bytes(b"x")
    record = scan(tmp_path)[f"{tmp_path}/f"]
    (tmp_path / "f").unlink()
    (tmp_path / "f").symlink_to(tmp_path / "secret")
    assert record.open is not None
    with pytest.raises(OSError):
        record.open()


def test_open_is_lazy(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    record = scan(tmp_path)[f"{tmp_path}/f"]
    (tmp_path / "f").write_bytes(b"changed after scan")
    assert read(record) == b"changed after scan"


def test_xattrs_are_read_unless_disabled(tmp_path: Path) -> None:
    if not supports_user_xattrs(tmp_path):
        pytest.skip("the file system refuses user xattrs")
    path = tmp_path / "f"
    path.write_bytes(b"x")
    os.setxattr(path, "user.kloset", b"\x00value")
    assert scan(tmp_path)[str(path)].get_xattrs() == {"user.kloset": b"\x00value"}
    assert scan(tmp_path, no_xattr=True)[str(path)].get_xattrs() == {}


def test_unreadable_xattr_is_skipped_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_bytes(b"x")

    def listxattr(path: object, *, follow_symlinks: bool = True) -> list[str]:
        return ["user.gone", "user.ok"]

    def getxattr(path: object, name: str, *, follow_symlinks: bool = True) -> bytes:
        if name == "user.gone":
            raise OSError(errno.ENODATA, "No data available")
        return b"ok"

    monkeypatch.setattr(os, "listxattr", listxattr)
    monkeypatch.setattr(os, "getxattr", getxattr)
    record = scan(tmp_path)[f"{tmp_path}/f"]
    assert record.error is None
    assert record.get_xattrs() == {"user.ok": b"ok"}


def test_excludes_follow_gitignore_rules(tmp_path: Path) -> None:
    tree = ["a.pyc", "keep.pyc", "src/m.py", "src/x.pyc", "src/keep.pyc", "build/out", "src/build/o", "b"]
    for rel in tree:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "build2").write_bytes(b"")  # a file: "build/" only matches directories
    records = scan(tmp_path, excludes=["*.pyc", "build/", "!keep.pyc"])
    assert names(tmp_path, records) == {"keep.pyc", "src", "src/m.py", "src/keep.pyc", "b", "build2"}


def test_excluded_directory_is_not_descended_into(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cache" / "deep").mkdir(parents=True)
    listed: list[str] = []
    real_scandir = os.scandir

    def spying_scandir(path: str) -> Any:
        listed.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spying_scandir)
    records = scan(tmp_path, excludes=["cache/"], max_concurrency=1)  # walked in this process, to be spied on
    assert names(tmp_path, records) == set()
    assert listed == [str(tmp_path)]


def test_read_exclude_file_drops_blank_lines_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "excludes"
    path.write_bytes(b"# comment\n*.pyc\n\n   \nbuild/\n!keep.pyc\r\n\\#literal\n")
    assert read_exclude_file(str(path)) == ["*.pyc", "build/", "!keep.pyc", "\\#literal"]


def test_read_exclude_file_missing_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_exclude_file(str(tmp_path / "nope"))


def test_file_vanishing_between_listing_and_lstat_is_an_error_record(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "b").write_bytes(b"")
    # Walked in this process: a child would have walked past "b" already.
    importer = FSImporter({"location": str(tmp_path)}, ImporterOptions(max_concurrency=1))
    records = importer.scan()
    root = next(records)  # the root's listing is done once its record is out
    assert root.error is None
    (tmp_path / "b").unlink()
    rest = {r.pathname: r for r in records}
    assert rest[f"{tmp_path}/a"].error is None
    vanished = rest[f"{tmp_path}/b"]
    assert vanished.error is not None and vanished.error.startswith("vanished")
    assert vanished.open is None


def test_directory_removed_mid_walk_is_an_error_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"")
    (tmp_path / "e").write_bytes(b"")
    real_lstat = os.lstat

    def lstat_then_remove(path: str, **kwargs: object) -> os.stat_result:
        st = real_lstat(path)
        if path == f"{tmp_path}/d":
            (tmp_path / "d" / "f").unlink()
            (tmp_path / "d").rmdir()
        return st

    monkeypatch.setattr(os, "lstat", lstat_then_remove)
    records = scan(tmp_path, max_concurrency=1)
    d = records[f"{tmp_path}/d"]
    assert d.info is not None and d.info.type is EntryType.DIR
    assert d.error is not None and d.error.startswith("vanished")
    assert f"{tmp_path}/e" in records and f"{tmp_path}/d/f" not in records


def test_directory_that_cannot_be_listed_is_an_error_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "f").write_bytes(b"")
    (tmp_path / "z").write_bytes(b"")
    real_scandir = os.scandir

    def refusing_scandir(path: str) -> Any:
        if path.endswith("/locked"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    records = scan(tmp_path, max_concurrency=1)
    locked = records[f"{tmp_path}/locked"]
    assert locked.error is not None and locked.error.startswith("permission denied")
    assert f"{tmp_path}/z" in records and f"{tmp_path}/locked/f" not in records


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
def test_directory_with_mode_000_is_an_error_record(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        record = scan(tmp_path)[str(locked)]
    finally:
        locked.chmod(0o755)
    assert record.error is not None and record.error.startswith("permission denied")


def test_unreadable_file_fails_in_open_not_in_scan(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    record = scan(tmp_path)[f"{tmp_path}/f"]
    (tmp_path / "f").unlink()
    assert record.open is not None
    with pytest.raises(FileNotFoundError):
        record.open()


def test_root_that_is_a_single_file_yields_one_record(tmp_path: Path) -> None:
    (tmp_path / "only").write_bytes(b"alone")
    records = scan(tmp_path / "only")
    assert list(records) == [str(tmp_path / "only")]
    record = records[str(tmp_path / "only")]
    assert record.info is not None and stat.S_ISREG(record.info.mode)
    assert read(record) == b"alone"


def _children() -> set[int]:
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        pids.update(int(p) for p in (task / "children").read_text().split())
    return pids


def test_the_walk_runs_in_a_child_that_stops_when_the_scan_is_abandoned(tmp_path: Path) -> None:
    for i in range(2000):  # more than the pipe holds at once: the child is still walking
        (tmp_path / f"f{i:05}").write_bytes(b"")
    before = _children()
    records = FSImporter({"location": str(tmp_path)}).scan()
    assert next(records).pathname == str(tmp_path)
    assert _children() - before  # the walking child
    records.close()
    assert _children() == before


def test_a_prefetched_walk_gives_the_same_records(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"d{i % 5}").mkdir(exist_ok=True)
        (tmp_path / f"d{i % 5}" / f"f{i}").write_bytes(b"x" * i)
    plain = [(r.pathname, r.info) for r in FSImporter({"location": str(tmp_path)}).scan()]
    before = _children()
    early = FSImporter({"location": str(tmp_path)})
    early.prefetch()
    assert _children() - before  # walking before anyone asked for a record
    assert [(r.pathname, r.info) for r in early.scan()] == plain
    assert _children() == before


def test_closing_an_importer_stops_a_prefetched_walk_never_read(tmp_path: Path) -> None:
    for i in range(2000):
        (tmp_path / f"f{i:05}").write_bytes(b"")
    before = _children()
    importer = FSImporter({"location": str(tmp_path)})
    importer.prefetch()
    importer.prefetch()  # once is enough: a second call starts nothing more
    assert len(_children() - before) == 1
    importer.close()
    assert _children() == before


def test_a_prefetched_walk_whose_child_cannot_start_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    importer = FSImporter({"location": str(tmp_path)})
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    with pytest.raises(KlosetError, match="cannot walk"):
        importer.prefetch()


def test_a_walk_whose_child_fails_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").write_bytes(b"")
    importer = FSImporter({"location": str(tmp_path)})
    monkeypatch.setattr("sys.executable", "/bin/false")  # a child that dies at once, saying nothing
    with pytest.raises(KlosetError, match=r"cannot walk .*\(exit code 1\)"):
        list(importer.scan())


def test_a_walk_whose_child_cannot_start_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    importer = FSImporter({"location": str(tmp_path)})
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    with pytest.raises(KlosetError, match="cannot walk"):
        list(importer.scan())
