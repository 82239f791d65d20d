"""One directory's entries, read from the path-ordered files table without reading the rest of it.

In snapshot order (see :mod:`kloset.snapshot.order`) a directory's subtree is one run of rows, and its
direct children come in name order, each child directory followed by its own subtree. A listing walks
that run and, at the first row below a child, jumps past the child's subtree: the key ``child + 0x01``
sorts after every descendant of the child and before its next sibling. A jump lands in the piece whose
first key precedes it (pieces carry their first key), so listing a folder reads the pieces that hold
its children and the piece at each subtree's end, never the subtrees themselves: opening the root of a
snapshot of a million files reads a few pieces.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from .order import path_key
from .rows import row_key, row_pathname

if TYPE_CHECKING:
    from .reader import SnapshotReader

_COLUMNS = ["path", "raw_path", "type", "size", "mode", "mtime", "user", "group", "content_type", "object_id",
            "target"]
_CACHED_PIECES = 32  # decoded pieces kept per snapshot: a folder's page and the jumps around it


@dataclass(frozen=True)
class Entry:
    """One entry of a snapshot: a file, directory, symlink or other node, with its main metadata."""

    path: str  # as the source named it: bytes that are not UTF-8 are lone surrogates (os.fsdecode's way)
    type: str  # file, dir, symlink, device, fifo, socket
    size: int
    mode: int
    mtime: datetime
    user: str
    group: str
    content_type: str | None = None
    object_id: str | None = None  # hex ID of the content; None for what has none
    target: str | None = None  # a symlink's target

    @property
    def name(self) -> str:
        return "/" if self.path == "/" else self.path.rsplit("/", 1)[-1]

    @property
    def display_path(self) -> str:
        """The path fit for showing: bytes that are not UTF-8 as ``\\xff`` escapes."""
        return self.path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    def __repr__(self) -> str:
        return f"<Entry {self.type} {self.path} size={self.size}>"

    def _repr_html_(self) -> str | None:
        from ..store import _html

        return _html("entry_html", self)


def entry_of(row: dict[str, Any]) -> Entry:
    """The Entry of a files row as :func:`kloset.snapshot.index.pylist_columns` gives it."""
    oid = row.get("object_id")
    return Entry(path=row_pathname(row), type=row["type"], size=int(row["size"] or 0), mode=int(row["mode"] or 0),
                 mtime=datetime.fromtimestamp((row["mtime"] or 0) / 1e9, tz=UTC), user=row["user"] or "",
                 group=row["group"] or "", content_type=row.get("content_type"),
                 object_id=oid.hex() if oid is not None else None, target=row.get("target"))


class _Piece:
    __slots__ = ("cols", "keys")

    def __init__(self, cols: dict[str, list[Any]]) -> None:
        self.cols = cols
        self.keys = [row_key(p, r) for p, r in zip(cols["path"], cols["raw_path"], strict=True)]

    def row(self, j: int) -> dict[str, Any]:
        return {n: c[j] for n, c in self.cols.items()}


class Lister:
    """Directory listings of one snapshot, with the pieces they decoded kept for the next listing."""

    def __init__(self, reader: SnapshotReader) -> None:
        self._reader = reader
        self._pieces = reader.header.tables.get("files", [])
        self._firsts = [p.first for p in self._pieces]
        self._cache: OrderedDict[int, _Piece] = OrderedDict()

    def _piece(self, i: int) -> _Piece:
        p = self._cache.get(i)
        if p is None:
            from .index import pylist_columns

            p = _Piece(pylist_columns(self._reader.piece("files", self._pieces[i].id, _COLUMNS)))
            self._cache[i] = p
            if len(self._cache) > _CACHED_PIECES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return p

    def _seek(self, key: bytes) -> tuple[int, int]:
        """(piece, row) of the first row whose key is ``key`` or above; the piece count when none is."""
        i = max(bisect.bisect_right(self._firsts, key) - 1, 0)
        while i < len(self._pieces):
            keys = self._piece(i).keys
            j = bisect.bisect_left(keys, key)
            if j < len(keys):
                return i, j
            i += 1
        return i, 0

    def stat(self, path: str) -> Entry:
        key = path_key(path)
        i, j = self._seek(key)
        if i < len(self._pieces) and self._piece(i).keys[j] == key:
            return entry_of(self._piece(i).row(j))
        raise NotFound(f"{path}: no such file in snapshot {self._reader.header.short_id}")

    def children(self, path: str, after: str | None = None) -> Iterator[Entry]:
        """The entries directly in directory ``path``, in name order; those after the child ``after``
        (a name or a path) when given, which is how a caller asks for the next page."""
        entry = self.stat(path)
        if not entry.is_dir:
            raise NotFound(f"{path}: not a directory in snapshot {self._reader.header.short_id}")
        key = path_key(path)
        prefix = key if key == b"\x00" else key + b"\x00"  # the root's key is already a separator
        end = prefix[:-1] + b"\x01"  # sorts after every key of the subtree
        start = prefix
        if after:  # past the child's subtree
            start = prefix + after.rsplit("/", 1)[-1].encode("utf-8", "surrogateescape") + b"\x01"
        i, j = self._seek(start)
        n = len(prefix)
        while i < len(self._pieces):
            piece = self._piece(i)
            keys = piece.keys
            while j < len(keys):
                k = keys[j]
                if k >= end:
                    return
                cut = k.find(b"\x00", n)
                if cut < 0:
                    if len(k) > n:  # not the directory itself
                        yield entry_of(piece.row(j))
                    j += 1
                    continue
                # A row below a child: go past the child's subtree, in this piece when it ends here.
                jump = k[:cut] + b"\x01"
                if keys[-1] >= jump:
                    j = bisect.bisect_left(keys, jump, j)
                    continue
                i, j = self._seek(jump)
                break
            else:
                i, j = i + 1, 0
