from __future__ import annotations

import errno
import functools
import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kloset.connectors.fs.exporter import FSExporter
from kloset.connectors.fs.importer import FSImporter
from kloset.errors import ConfigError, KlosetError, NotFound, UnsafePathError, Unsupported
from kloset.exporter import Exporter
from kloset.objects import FileInfo
from kloset.testing.exporter_suite import ExporterConformance

MTIME_NS = 1_234_567_890_123_456_789


class TestFSExporterConformance(ExporterConformance):
    def make_exporter(self, target: Path) -> Exporter:
        return FSExporter({"location": str(target)})


def info(mode: int = stat.S_IFREG | 0o644, **fields: int) -> FileInfo:
    return FileInfo(name="x", mode=mode, mtime_ns=MTIME_NS, **fields)  # type: ignore[arg-type]


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "target"


@pytest.fixture
def exporter(target: Path) -> FSExporter:
    return FSExporter({"location": str(target)})


def test_target_directory_is_created(tmp_path: Path) -> None:
    FSExporter({"location": f"fs://{tmp_path}/a/b"})
    assert (tmp_path / "a" / "b").is_dir()


def test_target_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(ConfigError):
        FSExporter({"location": str(tmp_path / "f")})


def test_empty_location_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        FSExporter({"location": ""})


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", "a/./b", "a//b", "", "..", "a/\0"])
def test_lexically_unsafe_paths_are_refused(exporter: FSExporter, target: Path, path: str) -> None:
    exporter.mkdir("a", info(stat.S_IFDIR | 0o755))
    with pytest.raises(UnsafePathError):
        exporter.write_file(path, info(), iter([b"x"]))
    with pytest.raises(UnsafePathError):
        exporter.set_attributes(path, info(), {})
    with pytest.raises(UnsafePathError):
        exporter.special(path, info(stat.S_IFIFO | 0o644))


def test_write_through_a_restored_symlink_to_etc_is_refused(exporter: FSExporter, target: Path) -> None:
    exporter.symlink("a", "/etc", info(stat.S_IFLNK | 0o777))
    with pytest.raises(UnsafePathError):
        exporter.write_file("a/passwd", info(), iter([b"root::0:0::/:/bin/sh\n"]))
    with pytest.raises(UnsafePathError):
        exporter.set_attributes("a/passwd", info(stat.S_IFREG | 0o777), {})
    with pytest.raises(UnsafePathError):
        exporter.hardlink("stolen", "a/shadow")


def test_symlinks_inside_the_target_may_be_written_through(exporter: FSExporter, target: Path) -> None:
    exporter.mkdir("real", info(stat.S_IFDIR | 0o755))
    exporter.symlink("alias", "real", info(stat.S_IFLNK | 0o777))
    exporter.write_file("alias/f", info(), iter([b"inside"]))
    assert (target / "real" / "f").read_bytes() == b"inside"


def test_target_reached_through_a_symlink_still_works(tmp_path: Path) -> None:
    (tmp_path / "disk").mkdir()
    (tmp_path / "restore").symlink_to(tmp_path / "disk")
    exporter = FSExporter({"location": str(tmp_path / "restore")})
    exporter.write_file("f", info(), iter([b"x"]))
    assert (tmp_path / "disk" / "f").read_bytes() == b"x"


def test_set_attributes_on_a_symlink_leaves_its_target_alone(
    exporter: FSExporter, target: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"")
    victim.chmod(0o600)
    before = victim.stat()
    exporter.symlink("l", str(victim), info(stat.S_IFLNK | 0o777))
    exporter.set_attributes("l", info(stat.S_IFLNK | 0o777, uid=12345, gid=12345), {})
    after = victim.stat()
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)
    assert after.st_mtime_ns == before.st_mtime_ns
    assert os.lstat(target / "l").st_mtime_ns == MTIME_NS


def test_sparse_file_keeps_its_holes(exporter: FSExporter, target: Path) -> None:
    hole = bytes(4 * 1024 * 1024)
    pieces = [b"start", hole, hole, b"middle", hole, hole]
    exporter.write_file("sparse", info(), iter(pieces))
    st = os.stat(target / "sparse")
    assert st.st_size == sum(map(len, pieces))
    assert st.st_blocks * 512 < 1024 * 1024
    with open(target / "sparse", "rb") as f:
        assert f.read() == b"".join(pieces)


def test_zero_blocks_inside_one_large_piece_become_holes(exporter: FSExporter, target: Path) -> None:
    piece = b"x" * 10 + bytes(6 * 1024 * 1024) + b"y"
    exporter.write_file("f", info(), iter([piece]))
    assert os.stat(target / "f").st_blocks * 512 < 512 * 1024
    assert (target / "f").read_bytes() == piece


def test_zero_runs_at_odd_offsets_round_trip_exactly(exporter: FSExporter, target: Path) -> None:
    rng = random.Random(7)
    pieces = []
    for _ in range(40):
        parts = [rng.randbytes(rng.randrange(0, 70_000)), bytes(rng.randrange(0, 200_000))]
        rng.shuffle(parts)
        pieces.append(b"".join(parts))
    exporter.write_file("f", info(), iter(pieces))
    assert (target / "f").read_bytes() == b"".join(pieces)


def test_file_gets_its_permission_bits_and_times(exporter: FSExporter, target: Path) -> None:
    exporter.write_file("f", info(stat.S_IFREG | 0o4751), iter([b"x"]))
    exporter.set_attributes("f", info(stat.S_IFREG | 0o4751, uid=1234, gid=4321), {})
    st = os.stat(target / "f")
    assert stat.S_IMODE(st.st_mode) == 0o4751  # set after chown, which would have cleared setuid
    assert st.st_mtime_ns == st.st_atime_ns == MTIME_NS
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 4321)


def test_chown_refusal_is_ignored_when_not_root(
    exporter: FSExporter, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter.write_file("f", info(), iter([b"x"]))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "chown", refuse)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    exporter.set_attributes("f", info(uid=0, gid=0), {})
    assert os.stat(target / "f").st_mtime_ns == MTIME_NS


def test_write_file_leaves_no_temporary_file_behind_on_failure(exporter: FSExporter, target: Path) -> None:
    def failing() -> Iterator[bytes]:
        yield b"partial"
        raise KlosetError("content is corrupt")

    with pytest.raises(KlosetError, match="corrupt"):
        exporter.write_file("f", info(), failing())
    assert list(target.iterdir()) == []


def test_write_file_creates_missing_parents(exporter: FSExporter, target: Path) -> None:
    exporter.write_file("a/b/c", info(), iter([b"x"]))
    assert (target / "a" / "b" / "c").read_bytes() == b"x"


def test_mkdir_replaces_a_file_or_symlink_in_the_way(exporter: FSExporter, target: Path) -> None:
    exporter.write_file("d", info(), iter([b"x"]))
    exporter.mkdir("d", info(stat.S_IFDIR | 0o755))
    exporter.symlink("e", "/tmp", info(stat.S_IFLNK | 0o777))
    exporter.mkdir("e", info(stat.S_IFDIR | 0o755))
    assert (target / "d").is_dir() and not (target / "e").is_symlink() and (target / "e").is_dir()


def test_non_utf8_and_newline_names_are_restored_byte_for_byte(exporter: FSExporter, target: Path) -> None:
    name = os.fsdecode(b"caf\xe9\nnew\xff")
    exporter.mkdir(name, info(stat.S_IFDIR | 0o755))
    exporter.write_file(f"{name}/f", info(), iter([b"x"]))
    exporter.symlink(f"{name}/l", name, info(stat.S_IFLNK | 0o777))
    raw = os.path.join(os.fsencode(target), b"caf\xe9\nnew\xff")
    assert os.listdir(raw) == [b"f", b"l"] or sorted(os.listdir(raw)) == [b"f", b"l"]
    assert os.readlink(os.path.join(raw, b"l")) == b"caf\xe9\nnew\xff"


def test_hardlink_shares_the_inode(exporter: FSExporter, target: Path) -> None:
    exporter.write_file("a", info(), iter([b"same"]))
    assert exporter.hardlink("b", "a")
    a, b = os.stat(target / "a"), os.stat(target / "b")
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)


def test_hardlink_to_a_missing_entry_is_not_found(exporter: FSExporter) -> None:
    with pytest.raises(NotFound):
        exporter.hardlink("b", "missing")


def test_hardlink_across_devices_reports_unsupported(
    exporter: FSExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter.write_file("a", info(), iter([b"x"]))

    def cross_device(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    assert exporter.hardlink("b", "a") is False


def test_fifo_is_created(exporter: FSExporter, target: Path) -> None:
    exporter.special("p", info(stat.S_IFIFO | 0o640))
    assert stat.S_ISFIFO(os.lstat(target / "p").st_mode)


def test_socket_is_skipped_silently(exporter: FSExporter, target: Path) -> None:
    exporter.special("s", info(stat.S_IFSOCK | 0o755))
    assert not os.path.lexists(target / "s")


def test_device_node_is_created_by_root(exporter: FSExporter, target: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root creates device nodes")
    try:
        exporter.special("null", info(stat.S_IFCHR | 0o666, rdev=os.makedev(1, 3)))
    except Unsupported:
        pytest.skip("this system does not allow mknod")
    st = os.lstat(target / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def test_device_node_is_unsupported_when_not_root(
    exporter: FSExporter, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(Unsupported):
        exporter.special("null", info(stat.S_IFCHR | 0o666, rdev=os.makedev(1, 3)))


def test_xattrs_are_applied(exporter: FSExporter, target: Path) -> None:
    exporter.write_file("f", info(), iter([b"x"]))
    try:
        os.setxattr(target / "f", "user.probe", b"1")
    except OSError:
        pytest.skip("the file system refuses user xattrs")
    exporter.set_attributes("f", info(), {"user.kloset": b"\x00value"})
    assert os.getxattr(target / "f", "user.kloset") == b"\x00value"


def test_xattrs_the_file_system_does_not_support_are_ignored(
    exporter: FSExporter, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter.write_file("f", info(), iter([b"x"]))

    def unsupported(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", unsupported)
    exporter.set_attributes("f", info(), {"system.posix_acl_access": b"..."})
    assert os.stat(target / "f").st_mtime_ns == MTIME_NS


def test_read_only_target_raises_a_kloset_error(
    exporter: FSExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "makedirs", read_only)
    with pytest.raises(KlosetError) as caught:
        exporter.mkdir("d", info(stat.S_IFDIR | 0o755))
    assert isinstance(caught.value.__cause__, OSError)


def test_backup_then_restore_round_trips_a_tree(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "d").mkdir(parents=True)
    (source / "d" / "f").write_bytes(b"content")
    (source / "sparse").write_bytes(b"")
    with open(source / "sparse", "r+b") as f:
        f.truncate(8 * 1024 * 1024)
    (source / "l").symlink_to("d/f")
    os.mkfifo(source / "p")
    exporter = FSExporter({"location": str(tmp_path / "restored")})
    importer = FSImporter({"location": str(source)})
    records = list(importer.scan())
    dirs: list[tuple[str, FileInfo]] = []
    for record in records[1:]:
        assert record.info is not None
        rel = record.pathname.removeprefix(str(source) + "/")
        kind = record.info.type.value
        if kind == "dir":
            exporter.mkdir(rel, record.info)
            dirs.append((rel, record.info))  # attributes last, as a restore does: children touch mtime
            continue
        if kind == "file":
            assert record.open is not None
            with record.open() as f:
                exporter.write_file(rel, record.info, iter(functools.partial(f.read, 1 << 20), b""))
        elif kind == "symlink":
            exporter.symlink(rel, record.target, record.info)
        else:
            exporter.special(rel, record.info)
        exporter.set_attributes(rel, record.info, record.get_xattrs())
    for rel, dir_info in reversed(dirs):
        exporter.set_attributes(rel, dir_info, {})
    restored = {r.pathname.removeprefix(str(tmp_path / "restored")): r for r in
                FSImporter({"location": str(tmp_path / "restored")}).scan()}
    for record in records[1:]:
        twin = restored[record.pathname.removeprefix(str(source))]
        assert twin.info is not None and record.info is not None
        assert (twin.info.mode, twin.info.size, twin.info.mtime_ns, twin.target) == (
            record.info.mode, record.info.size, record.info.mtime_ns, record.target
        )
    assert os.stat(tmp_path / "restored" / "sparse").st_blocks == 0
