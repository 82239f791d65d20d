"""Conformance suite for importers: what every source connector must do, whatever it reads from.

A connector joins it in a few lines::

    class TestMyImporter(ImporterConformance):
        def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
            return MyImporter({"location": upload(tree)}, options)

``make_importer`` gets a local directory holding :data:`TREE` (plus whatever a test added) and returns
an importer whose root presents that tree. The test methods take pytest's ``tmp_path``; pytest is only
imported when a test needs to skip, so this module imports without it.
"""

from __future__ import annotations

import os
import random
from abc import ABC, abstractmethod
from pathlib import Path

from kloset.importer import Importer, ImporterOptions
from kloset.objects import EntryType, Record
from kloset.snapshot.order import path_key

MTIME_NS = 1_600_000_000 * 1_000_000_000

#: The standard tree, relative path -> content (``None`` for a directory). ``dir/`` and ``dir.x`` are
#: there because a plain string sort puts ``dir.x`` between ``dir`` and its children, and snapshot order
#: does not.
TREE: dict[str, bytes | None] = {
    "a.txt": b"hello\n",
    "empty": b"",
    "dir": None,
    "dir/nested.bin": bytes(range(256)) * 64,
    "dir/sub": None,
    "dir/sub/deep.txt": b"deep\n",
    "dir.x": b"after the children of dir\n",
    "big.bin": random.Random(0).randbytes(3 * 1024 * 1024 + 17),
    "Zcaps": b"upper case sorts first\n",
}
#: Symlinks of the standard tree, relative path -> target.
SYMLINKS: dict[str, str] = {"link": "a.txt", "dir/dangling": "../nowhere"}


def build_tree(base: Path) -> Path:
    """Write the standard tree under ``base / "tree"`` and return that directory."""
    tree = base / "tree"
    tree.mkdir()
    for rel, content in TREE.items():
        path = tree / rel
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
            os.utime(path, ns=(MTIME_NS, MTIME_NS))
    for rel, target in SYMLINKS.items():
        (tree / rel).symlink_to(target)
    return tree


def relative(importer: Importer, record: Record) -> str:
    """The record's path relative to the importer's root ('' for the root)."""
    root = importer.root.rstrip("/")
    return record.pathname[len(root) :].lstrip("/")


def _skip(reason: str) -> None:
    import pytest  # only a running test suite gets here

    pytest.skip(reason)


class ImporterConformance(ABC):
    """Base class of importer conformance tests; subclasses implement :meth:`make_importer`."""

    #: Capabilities of the connector under test; a test of something it cannot do is skipped.
    supports_symlinks = True
    supports_excludes = True
    preserves_mtime = True

    @abstractmethod
    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        """The connector under test, joined to this suite by the subclass."""

    def scan(self, tmp_path: Path, options: ImporterOptions | None = None) -> tuple[Importer, list[Record]]:
        """The importer and its records. It stays open until the test ends: content is read before an
        importer is closed, as a backup does (a plugin's process is gone once it is)."""
        importer = self.make_importer(build_tree(tmp_path), options)
        self._importers = [*getattr(self, "_importers", []), importer]
        return importer, list(importer.scan())

    def teardown_method(self, method: object) -> None:
        for importer in getattr(self, "_importers", []):
            importer.close()
        self._importers = []

    def by_path(self, importer: Importer, records: list[Record]) -> dict[str, Record]:
        return {relative(importer, r): r for r in records}

    def test_root_directory_comes_first(self, tmp_path: Path) -> None:
        importer, records = self.scan(tmp_path)
        assert records, "scan yielded nothing"
        assert records[0].pathname == importer.root
        assert records[0].info is not None
        assert records[0].info.type is EntryType.DIR

    def test_every_entry_is_yielded_exactly_once(self, tmp_path: Path) -> None:
        importer, records = self.scan(tmp_path)
        paths = [relative(importer, r) for r in records]
        assert len(paths) == len(set(paths)), "duplicate records"
        expected = {"", *TREE}
        if self.supports_symlinks:
            expected |= set(SYMLINKS)
        assert set(paths) == expected

    def test_pathnames_are_absolute_and_under_root(self, tmp_path: Path) -> None:
        importer, records = self.scan(tmp_path)
        assert importer.root.startswith("/")
        prefix = importer.root.rstrip("/") + "/"
        for record in records[1:]:
            assert record.pathname.startswith(prefix)
            assert "//" not in record.pathname and not record.pathname.endswith("/")

    def test_records_follow_snapshot_order_when_ordered(self, tmp_path: Path) -> None:
        importer, records = self.scan(tmp_path)
        if not importer.ordered:
            _skip("the importer does not promise snapshot order")
        keys = [path_key(r.pathname) for r in records]
        assert keys == sorted(keys)

    def test_entry_types_match_the_tree(self, tmp_path: Path) -> None:
        importer, records = self.scan(tmp_path)
        found = self.by_path(importer, records)
        for rel, content in TREE.items():
            info = found[rel].info
            assert info is not None
            assert info.type is (EntryType.DIR if content is None else EntryType.FILE), rel

    def test_file_content_reads_back_through_open(self, tmp_path: Path) -> None:
        importer, records = self.scan(tmp_path)
        found = self.by_path(importer, records)
        for rel, content in TREE.items():
            if content is None:
                continue
            record = found[rel]
            assert record.error is None and record.open is not None, rel
            assert record.info is not None and record.info.size == len(content), rel
            with record.open() as f:
                assert f.read() == content, rel

    def test_directories_have_no_content_opener(self, tmp_path: Path) -> None:
        _, records = self.scan(tmp_path)
        for record in records:
            if record.info is not None and record.info.type is EntryType.DIR:
                assert record.open is None, record.pathname

    def test_file_modification_times_are_reported(self, tmp_path: Path) -> None:
        if not self.preserves_mtime:
            _skip("the source has no modification times to report")
        importer, records = self.scan(tmp_path)
        info = self.by_path(importer, records)["a.txt"].info
        assert info is not None
        assert abs(info.mtime_ns - MTIME_NS) < 1_000_000_000

    def test_symlinks_carry_their_target_and_no_content(self, tmp_path: Path) -> None:
        if not self.supports_symlinks:
            _skip("the source has no symlinks")
        importer, records = self.scan(tmp_path)
        found = self.by_path(importer, records)
        for rel, target in SYMLINKS.items():
            record = found[rel]
            assert record.info is not None and record.info.type is EntryType.SYMLINK, rel
            assert record.target == target
            assert record.open is None

    def test_excluded_entries_are_not_yielded(self, tmp_path: Path) -> None:
        if not self.supports_excludes:
            _skip("the importer does not apply excludes")
        importer, records = self.scan(tmp_path, ImporterOptions(excludes=["*.bin", "sub/"]))
        paths = {relative(importer, r) for r in records}
        assert not {"big.bin", "dir/nested.bin", "dir/sub", "dir/sub/deep.txt"} & paths
        assert {"a.txt", "dir", "dir.x"} <= paths

    def test_an_entry_vanishing_mid_scan_is_not_raised(self, tmp_path: Path) -> None:
        tree = build_tree(tmp_path)
        importer = self.make_importer(tree)
        try:
            records = importer.scan()
            first = next(records)
            (tree / "dir.x").unlink()
            (tree / "dir" / "sub" / "deep.txt").unlink()
            rest = list(records)
        finally:
            importer.close()
        for record in [first, *rest]:
            if relative(importer, record) in ("dir.x", "dir/sub/deep.txt") and record.error is None:
                # An importer that read the entry before it vanished must still serve its content or
                # fail in open(), the way a backup expects, never in scan().
                assert record.open is not None

    def test_ping_succeeds_on_a_present_source(self, tmp_path: Path) -> None:
        importer = self.make_importer(build_tree(tmp_path))
        try:
            importer.ping()
        finally:
            importer.close()

    def test_identity_of_the_source_is_set(self, tmp_path: Path) -> None:
        importer = self.make_importer(build_tree(tmp_path))
        try:
            assert importer.origin and importer.type and importer.root
        finally:
            importer.close()

    def test_close_can_be_called_twice(self, tmp_path: Path) -> None:
        importer = self.make_importer(build_tree(tmp_path))
        importer.close()
        importer.close()
