"""Differences between two snapshots, by a merge join of their file indexes in snapshot order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .reader import SnapshotReader
from .rows import row_key, row_pathname

_COMPARED = ("type", "mode", "uid", "gid", "size", "mtime", "target", "object_id")
_COLUMNS = ["path", "raw_path", *_COMPARED]


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    change: str  # "added", "removed" or "modified"
    fields: tuple[str, ...] = ()  # for "modified": the columns that differ
    size_before: int | None = None
    size_after: int | None = None


def _keyed(reader: SnapshotReader) -> Iterator[tuple[bytes, dict[str, Any]]]:
    for row in reader.rows("files", _COLUMNS):
        yield row_key(row["path"], row["raw_path"]), row


def diff(old: SnapshotReader, new: SnapshotReader) -> Iterator[Change]:
    a, b = _keyed(old), _keyed(new)
    ea, eb = next(a, None), next(b, None)
    while ea is not None or eb is not None:
        if eb is None or (ea is not None and ea[0] < eb[0]):
            assert ea is not None
            yield Change(row_pathname(ea[1]), "removed", size_before=ea[1]["size"])
            ea = next(a, None)
        elif ea is None or eb[0] < ea[0]:
            yield Change(row_pathname(eb[1]), "added", size_after=eb[1]["size"])
            eb = next(b, None)
        else:
            ra, rb = ea[1], eb[1]
            fields = tuple(f for f in _COMPARED if ra[f] != rb[f] and not (f == "mtime" and ra["type"] == "dir"))
            if fields:
                yield Change(row_pathname(rb), "modified", fields, ra["size"], rb["size"])
            ea, eb = next(a, None), next(b, None)
