"""Importers that misbehave on purpose: crafted records, and the fs importer with a hook on every record."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from kloset import FileInfo, Importer, ImporterOptions, Record
from kloset.connectors.fs.importer import FSImporter

from .trees import MTIME_NS


class CraftedImporter(Importer):
    """Yields exactly the records it is given: the way to build a snapshot no real tree can give."""

    def __init__(self, root: str, records: list[Record], *, origin: str = "crafted-host") -> None:
        super().__init__({"location": f"crafted://{root}"})
        self._root = root
        self._records = records
        self._origin = origin

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def type(self) -> str:
        return "crafted"

    @property
    def root(self) -> str:
        return self._root

    def scan(self) -> Iterator[Record]:
        yield from self._records


Hook = Callable[[Record], Record | None]


class HookedImporter(Importer):
    """The fs importer with a hook that sees every record and may change or drop it.

    It reports the fs importer's type, origin and root, so its snapshots and plain fs backups of the
    same folder are each other's parents."""

    ordered = True

    def __init__(self, location: Path | str, hook: Hook) -> None:
        # Walked in this process, in step with the hook: a walking child would run ahead of it.
        self.inner = FSImporter({"location": str(location)}, ImporterOptions(max_concurrency=1))
        super().__init__(self.inner.config, self.inner.options)
        self.hook = hook

    @property
    def origin(self) -> str:
        return self.inner.origin

    @property
    def type(self) -> str:
        return self.inner.type

    @property
    def root(self) -> str:
        return self.inner.root

    def scan(self) -> Iterator[Record]:
        for rec in self.inner.scan():
            out = self.hook(rec)
            if out is not None:
                yield out

    def close(self) -> None:
        self.inner.close()


def file_record(pathname: str, data: bytes = b"", mode: int = 0o644, mtime_ns: int = MTIME_NS) -> Record:
    info = FileInfo(name=os.path.basename(pathname), size=len(data), mode=stat.S_IFREG | mode,
                    mtime_ns=mtime_ns, ctime_ns=mtime_ns)
    return Record(pathname=pathname, info=info, open=lambda: io.BytesIO(data))


def dir_record(pathname: str, mode: int = 0o755, mtime_ns: int = MTIME_NS) -> Record:
    info = FileInfo(name=os.path.basename(pathname) or "/", mode=stat.S_IFDIR | mode, mtime_ns=mtime_ns,
                    ctime_ns=mtime_ns, nlink=2)
    return Record(pathname=pathname, info=info)


def symlink_record(pathname: str, target: str, mtime_ns: int = MTIME_NS) -> Record:
    info = FileInfo(name=os.path.basename(pathname), size=len(target), mode=stat.S_IFLNK | 0o777,
                    mtime_ns=mtime_ns, ctime_ns=mtime_ns)
    return Record(pathname=pathname, info=info, target=target)
