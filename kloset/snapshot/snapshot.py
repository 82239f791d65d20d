"""The public Snapshot: one backup, its metadata, its files and their content."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..location import Location, connector_config
from ..registry import exporter_for
from .diff import Change
from .diff import diff as diff_rows
from .header import Header, Summary
from .listing import Entry, Lister
from .reader import ContentFile, SnapshotReader
from .restore import RestoreReport, restore

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..repository.repo import Repository
    from .analysis import AnalysisReport

ProgressFn = Callable[[int, int], None]


class Snapshot:
    """A snapshot of a store. Cheap to make: tables are read when asked for."""

    def __init__(self, repo: Repository, header: Header) -> None:
        self._repo = repo
        self.header = header
        self._reader = SnapshotReader(repo, header)
        self._piece_ids: dict[str, set[bytes]] = {}
        self._lister: Lister | None = None

    # -- metadata -----------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.header.id.hex()

    @property
    def short_id(self) -> str:
        return self.header.short_id

    @property
    def timestamp(self) -> datetime:
        return self.header.timestamp

    @property
    def tags(self) -> list[str]:
        return list(self.header.tags)

    @property
    def summary(self) -> Summary:
        return self.header.summary

    @property
    def root(self) -> str:
        return self.header.importer_root

    def __repr__(self) -> str:
        s = self.header.summary
        return (f"<Snapshot {self.short_id} {self.timestamp:%Y-%m-%d %H:%M:%S} {self.header.importer_type}:"
                f"{self.root} files={s.files} size={s.size}>")

    def _repr_html_(self) -> str | None:
        from ..store import _html

        return _html("snapshot_html", self)

    # -- contents -----------------------------------------------------------------------------------

    def table(self, name: str = "files", columns: list[str] | None = None) -> pa.Table:
        """One of the snapshot's tables (``files``, ``chunks``, ``xattrs``, ``errors``) as Arrow."""
        return self._reader.table(name, columns)

    def table_pieces(self, name: str = "files") -> list[tuple[str, int]]:
        """The pieces a table is stored in, in snapshot order: (piece ID hex, rows) each.

        With :meth:`read_piece`, this lets a reader take a large table one piece at a time."""
        return [(p.id.hex(), p.rows) for p in self.header.tables.get(name, [])]

    def read_piece(self, name: str, piece_id: str) -> bytes:
        """One piece of a table as the Parquet file it is stored as (see docs/format.md)."""
        from .index import BLOB_TYPES

        # Looked up in a set made once: a reader takes every piece of a table, one call each.
        ids = self._piece_ids.get(name)
        if ids is None:
            ids = self._piece_ids[name] = {p.id for p in self.header.tables.get(name, [])}
        blob_id = bytes.fromhex(piece_id) if len(piece_id) == 64 else b""
        if blob_id not in ids:
            raise NotFound(f"snapshot {self.short_id} has no {name} piece {piece_id[:16]}")
        return self._repo.get_blob(BLOB_TYPES[name], blob_id)

    def files(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The file index as a DataFrame, one row per entry, in snapshot order."""
        import pyarrow as pa

        t = self._reader.table("files", columns)
        if columns is None or "object_id" in columns:
            oid = t.column("object_id").to_pylist()
            t = t.set_column(t.column_names.index("object_id"), "object_id",
                             pa.array([o.hex() if o is not None else None for o in oid], pa.string()))
        return t.to_pandas()

    def errors(self) -> pd.DataFrame:
        return self._reader.table("errors").to_pandas()  # pandas is imported by pyarrow on demand

    def entry(self, path: str | None = None) -> Entry:
        """One entry (the snapshot's root when ``path`` is None); NotFound when there is none."""
        return self._listing().stat(path or self.root)

    def listdir(self, path: str | None = None, *, after: str | None = None, limit: int | None = None) -> list[Entry]:
        """The entries directly in a directory (the snapshot's root when ``path`` is None), in name order.

        A page at a time: ``limit`` entries at most, those after the entry named ``after`` (the last one
        of the previous page). Only the pieces of the index that hold the directory's own entries are
        read, however large the subtrees below them."""
        return list(itertools.islice(self.iterdir(path, after=after), limit))

    def iterdir(self, path: str | None = None, *, after: str | None = None) -> Iterator[Entry]:
        """:meth:`listdir` as a stream."""
        return self._listing().children(path or self.root, after)

    def _listing(self) -> Lister:
        if self._lister is None:
            self._lister = Lister(self._reader)
        return self._lister

    def stat(self, path: str) -> dict[str, Any]:
        """The index row of one path."""
        return self._reader.find(path)

    def open(self, path: str) -> ContentFile:
        """A read-only binary file object over one file's content."""
        return self._reader.open(path)

    def entries(self, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """The file index row by row, in snapshot order, one piece in memory at a time (times as integer
        nanoseconds): a walk over every entry that stays small however many there are."""
        return self._reader.rows("files", columns)

    def open_entry(self, row: Mapping[str, Any]) -> ContentFile:
        """:meth:`open` for a row of :meth:`entries` (with ``type``, ``size``, ``object_id`` and ``chunks``),
        without looking its path up again."""
        return self._reader.open_row(dict(row))

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as f:
            return f.readall()

    def read_text(self, path: str, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes(path).decode(encoding, errors)

    def restore(self, to: Location | Path, paths: str | list[str] | None = None, *,
                progress: bool | ProgressFn = False) -> RestoreReport:
        """Restore the snapshot, or the given paths, into ``to`` (a folder or a destination location).

        Entries below the snapshot's root (or below a given directory) are written relative to it; a
        given file is written by its name. Files that cannot be restored (damaged content) are listed in
        the report's ``errors`` while the rest is restored."""
        targets: list[str | None] = [None] if paths is None else [paths] if isinstance(paths, str) else list(paths)
        report = RestoreReport()
        from ..progress import bar

        config = connector_config(to if isinstance(to, Mapping) else str(to), "destination")
        whole = paths is None
        with bar(progress, "restore", total_items=self.summary.files + self.summary.dirs if whole else None,
                 total_bytes=self.summary.size if whole else None) as fn:
            for p in targets:
                r = restore(self._reader, exporter_for(config), p, progress=fn)
                for k in ("files", "dirs", "symlinks", "others", "bytes", "transient"):
                    setattr(report, k, getattr(report, k) + getattr(r, k))
                report.errors += r.errors
        return report

    # -- analysis -----------------------------------------------------------------------------------

    def analyze(self, analyzers: Iterable[str] | None = None, *, options: dict[str, dict[str, str]] | None = None,
                processes: int = -1, progress: bool | ProgressFn = False) -> AnalysisReport:
        """Run analyzers (all installed ones by default) over the snapshot's content and link their
        results to it. Content any snapshot's analysis has read is not read again."""
        from ..progress import bar
        from .analysis import analyze, installed

        names = list(analyzers) if analyzers is not None else installed()
        with bar(progress, "analyze", total_items=self.summary.files, total_bytes=self.summary.size) as fn:
            return analyze(self._repo, self.header, names, options=options, processes=processes, progress=fn)

    def analyses(self) -> list[dict[str, Any]]:
        """The analyses of this snapshot, oldest first: ID, analyzer keys and time of each."""
        from .results import analyses

        return [{"analysis_id": h.id.hex(), "analyzers": list(h.analyzers), "time_ns": h.time_ns}
                for h in analyses(self._repo, self.header.id)]

    def analysis_table(self, name: str = "findings") -> pa.Table:
        """The rows of one analysis table (``findings``, ``emails``) for this snapshot's content, one per
        (object, analyzer, ...), as stored: see docs/format.md. Each analyzer's newest analysis counts."""
        import pyarrow as pa

        from .index import schemas
        from .results import linked_columns

        return pa.Table.from_pydict(linked_columns(self._repo, self.header.id, name), schema=schemas()[name])

    def _by_path(self, name: str) -> dict[str, list[Any]]:
        """An analysis table joined to the files holding each object, as columns: one row per (path,
        table row), in path order."""
        from .results import linked_columns

        # Python lists, not an Arrow table: building one loads pandas, which the command line never needs.
        cols = linked_columns(self._repo, self.header.id, name)
        if name == "findings":  # rows with no category only say an object was read
            keep = [i for i, c in enumerate(cols["category"]) if c is not None]
            cols = {n: [c[i] for i in keep] for n, c in cols.items()}
        out: dict[str, list[Any]] = {"snapshot_id": [], "path": [], **{n: [] for n in cols}}
        if not cols["object_id"]:
            return out
        files = self.table("files", ["path", "object_id"])
        paths: dict[bytes, list[str]] = {}
        for p, o in zip(files.column("path").to_pylist(), files.column("object_id").to_pylist(), strict=True):
            if o is not None and p is not None:
                paths.setdefault(o, []).append(p)
        order = sorted(((p, i) for i, oid in enumerate(cols["object_id"]) for p in paths.get(oid, [])),
                       key=lambda pi: (pi[0], pi[1]))
        for p, i in order:
            out["snapshot_id"].append(self.id)
            out["path"].append(p)
            for n, c in cols.items():
                out[n].append(c[i].hex() if n == "object_id" else c[i])
        return out

    def findings(self) -> pd.DataFrame:
        """What analyzers found, one row per (path, analyzer, category): masked sample, first byte offset,
        confidence and count. Empty until the snapshot is analyzed (``backup --analyze``, :meth:`analyze`)."""
        import pandas as pd

        return pd.DataFrame(self._by_path("findings"))

    def emails(self) -> pd.DataFrame:
        """The e-mail messages found, one row per (path, message): sender, recipients, cc, date, subject,
        message ID and attachments."""
        import pandas as pd

        frame = pd.DataFrame(self._by_path("emails"))
        frame["date"] = pd.to_datetime(frame["date"], utc=True)
        return frame

    def data_classes(self) -> dict[str, int]:
        """Category -> how many files hold it (``email``, ``iban``, ``special:health``...), most first."""
        rows = self._by_path("findings")
        files: dict[str, set[str]] = {}
        for category, path in zip(rows["category"], rows["path"], strict=True):
            files.setdefault(category, set()).add(path)
        return dict(sorted(((c, len(p)) for c, p in files.items()), key=lambda cn: (-cn[1], cn[0])))

    def changes(self, other: Snapshot) -> Iterator[Change]:
        """What changed from ``self`` to ``other``, streamed in snapshot order."""
        return diff_rows(self._reader, other._reader)

    def diff(self, other: Snapshot) -> pd.DataFrame:
        """What changed from ``self`` to ``other``: one row per added, removed or modified path."""
        import pandas as pd  # heavy: only when a DataFrame is asked for

        rows = [{"path": c.path, "change": c.change, "fields": ",".join(c.fields), "size_before": c.size_before,
                 "size_after": c.size_after} for c in self.changes(other)]
        return pd.DataFrame(rows, columns=["path", "change", "fields", "size_before", "size_after"])
