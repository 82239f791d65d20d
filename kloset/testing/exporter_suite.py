"""Conformance suite for exporters: what every restore destination must do.

A connector joins it in a few lines::

    class TestMyExporter(ExporterConformance):
        def make_exporter(self, target: Path) -> Exporter:
            return MyExporter({"location": str(target)})

The read-back hooks (:meth:`ExporterConformance.read_file` and friends) look at the local directory
``exporter.root``; a remote destination overrides them to fetch what it wrote. The test methods take
pytest's ``tmp_path``; pytest is only imported when a test needs to skip, so this module imports
without it.
"""

from __future__ import annotations

import os
import random
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from kloset.errors import UnsafePathError, Unsupported
from kloset.exporter import Exporter
from kloset.objects import EntryType, FileInfo, entry_type

#: Paths the restore engine should never pass, and an exporter must refuse anyway.
UNSAFE_PATHS = ["../x", "/etc/x", "a/../../x", "..", ".", "", "a//b", "a/./b", "a/", "./x", "/"]

MTIME_NS = 1_500_000_000 * 1_000_000_000


def file_info(name: str, mode: int = stat.S_IFREG | 0o644, size: int = 0) -> FileInfo:
    return FileInfo(name=name.rsplit("/", 1)[-1], mode=mode, size=size, mtime_ns=MTIME_NS)


def dir_info(name: str) -> FileInfo:
    return file_info(name, stat.S_IFDIR | 0o755)


def link_info(name: str) -> FileInfo:
    return file_info(name, stat.S_IFLNK | 0o777)


def _skip(reason: str) -> None:
    import pytest  # only a running test suite gets here

    pytest.skip(reason)


class ExporterConformance(ABC):
    """Base class of exporter conformance tests; subclasses implement :meth:`make_exporter`."""

    #: Capabilities of the connector under test; a test of something it cannot do is skipped.
    supports_symlinks = True
    supports_hardlinks = True
    supports_fifos = True
    supports_mtime = True

    @abstractmethod
    def make_exporter(self, target: Path) -> Exporter:
        """The connector under test, joined to this suite by the subclass."""

    # Read-back hooks: local defaults, overridden by remote destinations.

    def read_file(self, exporter: Exporter, path: str) -> bytes:
        return (Path(exporter.root) / path).read_bytes()

    def entry_type(self, exporter: Exporter, path: str) -> EntryType | None:
        try:
            return entry_type(os.lstat(Path(exporter.root) / path).st_mode)
        except FileNotFoundError:
            return None

    def read_link(self, exporter: Exporter, path: str) -> str:
        return os.readlink(Path(exporter.root) / path)

    def mtime_ns(self, exporter: Exporter, path: str) -> int:
        return os.lstat(Path(exporter.root) / path).st_mtime_ns

    def open_exporter(self, tmp_path: Path) -> Exporter:
        return self.make_exporter(tmp_path / "target")

    def test_mkdir_creates_a_directory_and_is_idempotent(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        exporter.mkdir("d", dir_info("d"))
        exporter.mkdir("d", dir_info("d"))
        exporter.mkdir("d/e", dir_info("d/e"))
        assert self.entry_type(exporter, "d") is EntryType.DIR
        assert self.entry_type(exporter, "d/e") is EntryType.DIR

    def test_file_content_round_trips_across_pieces(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        pieces = [b"head", b"", bytes(5000), random.Random(1).randbytes(200_000), b"tail"]
        exporter.mkdir("d", dir_info("d"))
        exporter.write_file("d/f", file_info("d/f", size=sum(map(len, pieces))), iter(pieces))
        assert self.read_file(exporter, "d/f") == b"".join(pieces)

    def test_file_ending_in_zeros_keeps_its_length(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        pieces = [b"x", bytes(100_000)]
        exporter.write_file("z", file_info("z", size=100_001), iter(pieces))
        assert self.read_file(exporter, "z") == b"x" + bytes(100_000)

    def test_empty_file_is_written(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        exporter.write_file("empty", file_info("empty"), iter([]))
        assert self.entry_type(exporter, "empty") is EntryType.FILE
        assert self.read_file(exporter, "empty") == b""

    def test_write_file_replaces_an_existing_file(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        exporter.write_file("f", file_info("f"), iter([b"old content, longer"]))
        exporter.write_file("f", file_info("f"), iter([b"new"]))
        assert self.read_file(exporter, "f") == b"new"

    def test_symlink_keeps_its_target(self, tmp_path: Path) -> None:
        if not self.supports_symlinks:
            _skip("the destination has no symlinks")
        exporter = self.open_exporter(tmp_path)
        exporter.symlink("l", "some/where/else", link_info("l"))
        assert self.entry_type(exporter, "l") is EntryType.SYMLINK
        assert self.read_link(exporter, "l") == "some/where/else"

    def test_symlink_replaces_an_existing_entry(self, tmp_path: Path) -> None:
        if not self.supports_symlinks:
            _skip("the destination has no symlinks")
        exporter = self.open_exporter(tmp_path)
        exporter.write_file("l", file_info("l"), iter([b"a file first"]))
        exporter.symlink("l", "first", link_info("l"))
        exporter.symlink("l", "second", link_info("l"))
        assert self.read_link(exporter, "l") == "second"

    def test_hardlink_gives_a_second_name_to_the_same_content(self, tmp_path: Path) -> None:
        if not self.supports_hardlinks:
            _skip("the destination has no hard links")
        exporter = self.open_exporter(tmp_path)
        exporter.write_file("a", file_info("a"), iter([b"shared"]))
        assert exporter.hardlink("b", "a") is True
        assert self.read_file(exporter, "b") == b"shared"

    def test_fifo_is_created_or_refused_as_unsupported(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        info = file_info("p", stat.S_IFIFO | 0o644)
        if not self.supports_fifos:
            try:
                exporter.special("p", info)
            except Unsupported:
                return
            raise AssertionError("special() neither created the FIFO nor raised Unsupported")
        exporter.special("p", info)
        assert self.entry_type(exporter, "p") is EntryType.FIFO

    def test_set_attributes_applies_the_modification_time(self, tmp_path: Path) -> None:
        if not self.supports_mtime:
            _skip("the destination keeps no modification times")
        exporter = self.open_exporter(tmp_path)
        exporter.write_file("f", file_info("f"), iter([b"x"]))
        exporter.mkdir("d", dir_info("d"))
        exporter.set_attributes("f", file_info("f"), {})
        exporter.set_attributes("d", dir_info("d"), {})
        assert abs(self.mtime_ns(exporter, "f") - MTIME_NS) < 1_000_000_000
        assert abs(self.mtime_ns(exporter, "d") - MTIME_NS) < 1_000_000_000

    def test_unsafe_paths_are_refused(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        exporter.mkdir("a", dir_info("a"))
        for path in UNSAFE_PATHS:
            self._assert_refused(exporter, path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["target"], "something escaped the target"

    def test_writes_through_a_restored_symlink_are_refused(self, tmp_path: Path) -> None:
        if not self.supports_symlinks:
            _skip("the destination has no symlinks")
        outside = tmp_path / "outside"
        outside.mkdir()
        exporter = self.open_exporter(tmp_path)
        # A snapshot can hold a symlink to anywhere, then an entry "below" it.
        exporter.symlink("abs", str(outside), link_info("abs"))
        exporter.mkdir("d", dir_info("d"))
        exporter.symlink("d/rel", "../../outside", link_info("d/rel"))
        for path in ("abs/passwd", "d/rel/passwd", "abs/sub/passwd"):
            self._assert_refused(exporter, path)
        assert list(outside.iterdir()) == [], "a write landed outside the target"

    def test_close_can_be_called_twice(self, tmp_path: Path) -> None:
        exporter = self.open_exporter(tmp_path)
        exporter.close()
        exporter.close()

    def _writes(self, exporter: Exporter, path: str) -> list[tuple[str, Callable[[], object]]]:
        """Every write method aimed at ``path``, named so a failure says which one let it through."""
        attempts: list[tuple[str, Callable[[], object]]] = [
            ("mkdir", lambda: exporter.mkdir(path, dir_info("x"))),
            ("write_file", lambda: exporter.write_file(path, file_info("x"), iter([b"pwned"]))),
        ]
        if self.supports_symlinks:
            attempts.append(("symlink", lambda: exporter.symlink(path, "/", link_info("x"))))
        if self.supports_hardlinks:
            exporter.write_file("victim", file_info("victim"), iter([b"v"]))
            attempts.append(("hardlink", lambda: exporter.hardlink(path, "victim")))
            attempts.append(("hardlink from it", lambda: exporter.hardlink("new", path)))
        return attempts

    def _assert_refused(self, exporter: Exporter, path: str) -> None:
        for name, attempt in self._writes(exporter, path):
            try:
                attempt()
            except UnsafePathError:
                continue
            raise AssertionError(f"{name}() did not refuse {path!r}")
