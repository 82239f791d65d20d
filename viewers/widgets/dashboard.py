"""The findings dashboard: personal data per snapshot, then per folder of one snapshot, down to files.

Every table is counted by DuckDB over the ``findings`` table (see docs/sql.md): the kernel receives
counts, and files only for the folder that was opened, a page of which reaches the browser.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

import kloset

from .grid import PagedTable
from .notice import reported_in

NO_FINDINGS = "No findings: run kloset analyze or back up with analyze=[...]"
_ALL = "(all categories)"


def _lit(value: str) -> str:
    """A SQL string literal (the findings tables take no parameters through ``store.sql``)."""
    return "'" + value.replace("'", "''") + "'"


def _below(folder: str) -> str:
    """The prefix every path inside ``folder`` starts with."""
    return folder if folder.endswith("/") else folder + "/"


def _relative(path: str, folder: str) -> str:
    """How the folder picker names ``path``: below the folder on view, or "." for its own files."""
    return "." if path == folder else path[len(_below(folder)):]


def _wide(long: pd.DataFrame, keys: list[str], totals: pd.DataFrame) -> pd.DataFrame:
    """(keys, category, files) rows as one row per key and one column per category, then ``files``,
    the number of distinct files with any finding."""
    if long.empty:
        wide = totals[keys].copy()
    else:
        wide = long.pivot_table(index=keys, columns="category", values="files", aggfunc="sum", fill_value=0)
        wide.columns = [str(c) for c in wide.columns]
        wide = totals[keys].merge(wide.reset_index(), on=keys, how="left")
    wide["files"] = totals["files"].to_numpy()
    categories = [c for c in wide.columns if c not in keys]
    wide[categories] = wide[categories].fillna(0).astype("int64")
    return wide


class FindingsDashboard(w.VBox):
    """``FindingsDashboard(store)`` in a notebook cell: which data classes sit where, down to the file."""

    def __init__(self, store: kloset.Store, *, page_size: int = 50) -> None:
        self.store = store
        self._snapshots = pd.DataFrame(columns=["snapshot_id", "short_id", "timestamp", "root"])
        self._snapshot: str | None = None
        self._folder: str | None = None
        self._quiet = False  # set while options are refilled, so that observers do not react to it

        self.message = w.HTML()
        self.snapshots_table = PagedTable(page_size=page_size)
        self.picker = w.Dropdown(description="Snapshot", layout=w.Layout(width="50%"))
        self.depth = w.IntSlider(value=1, min=1, max=8, description="Depth", continuous_update=False)
        self.up_button = w.Button(description="Up", icon="level-up", layout=w.Layout(width="auto"))
        self.where = w.HTML()
        self.folders_table = PagedTable(page_size=page_size)
        self.folder_picker = w.Select(description="Folder", rows=8, layout=w.Layout(width="50%"))
        self.category_picker = w.Select(description="Category", rows=8)
        self.files_table = PagedTable(page_size=page_size, empty="no files")
        self.picker.observe(lambda ch: self._react(self.select_snapshot, ch["new"]), names="value")
        self.depth.observe(lambda ch: self._react(self._refresh_folders), names="value")
        self.folder_picker.observe(lambda ch: self._react(self.open_folder, ch["new"]), names="value")
        self.category_picker.observe(lambda ch: self._react(self._refresh_files), names="value")
        self.up_button.on_click(lambda _: self._react(self._up))
        super().__init__([
            self.message, w.HTML("<b>Data classes per snapshot</b> (files per category)"), self.snapshots_table,
            w.HBox([self.picker, self.depth]), w.HBox([self.up_button, self.where]), self.folders_table,
            w.HBox([self.folder_picker, self.category_picker]), self.files_table])
        with self._guarded():
            self._load()

    # -- public ----------------------------------------------------------------------------------------

    @property
    def snapshot_id(self) -> str | None:
        """The snapshot on view."""
        return self._snapshot

    @property
    def folder(self) -> str | None:
        """The folder on view (the snapshot's root until one is opened)."""
        return self._folder

    def by_snapshot(self) -> pd.DataFrame:
        """One row per snapshot (newest first): how many files hold each category, and ``files``, how
        many hold any. Snapshots with no findings have zeros."""
        long = self.store.sql(
            "SELECT snapshot_id, category, count(DISTINCT path) AS files FROM findings GROUP BY ALL")
        totals = self.store.sql(
            "SELECT s.snapshot_id, s.short_id, s.timestamp, s.root, count(DISTINCT f.path) AS files "
            "FROM snapshots s LEFT JOIN findings f USING (snapshot_id) "
            "GROUP BY ALL ORDER BY s.timestamp DESC")
        wide = _wide(long, ["snapshot_id"], totals)
        info = totals[["snapshot_id", "short_id", "timestamp", "root"]]
        return info.merge(wide, on="snapshot_id")

    def by_folder(self, snapshot_id: str | None = None, folder: str | None = None, *,
                  depth: int | None = None) -> pd.DataFrame:
        """Files per category in each folder ``depth`` levels (the slider's when None) below ``folder``
        (the snapshot's root when None), counting everything inside each. Files directly in ``folder``
        are counted under ``folder`` itself. Columns: ``folder``, one per category, ``files``."""
        sid = self._resolve(snapshot_id)
        base = (folder.rstrip("/") or "/") if folder is not None else self._root(sid)
        levels = depth if depth is not None else self.depth.value
        if levels < 1:
            raise kloset.ConfigError("the depth is counted from 1")
        prefix = _below(base)
        # The folder part of each path below ``base``, cut to ``levels`` names.
        key = (f"CASE WHEN len(parts) = 1 THEN {_lit(base)} ELSE {_lit(prefix)} || "
               f"array_to_string(parts[1:least({int(levels)}, len(parts) - 1)], '/') END")
        inner = (f"SELECT path, category, string_split(substring(path, {len(prefix) + 1}), '/') AS parts "
                 "FROM findings "
                 f"WHERE snapshot_id = {_lit(sid)} AND starts_with(path, {_lit(prefix)})")
        grouped = f"SELECT {key} AS folder, path, category FROM ({inner})"
        long = self.store.sql(f"SELECT folder, category, count(DISTINCT path) AS files FROM ({grouped}) "
                              "GROUP BY ALL")
        totals = self.store.sql(f"SELECT folder, count(DISTINCT path) AS files FROM ({grouped}) "
                                "GROUP BY folder ORDER BY folder")
        return _wide(long, ["folder"], totals)

    def files(self, folder: str, category: str | None = None) -> pd.DataFrame:
        """The findings in files inside ``folder`` (at any depth) of the snapshot on view, one row per
        file and category: ``path``, ``category``, ``analyzer``, ``sample`` (masked), ``confidence``,
        ``count``."""
        sid = self._resolve(None)
        where = f"snapshot_id = {_lit(sid)} AND starts_with(path, {_lit(_below(folder))})"
        if category is not None:
            where += f" AND category = {_lit(category)}"
        return self.store.sql("SELECT path, category, analyzer, sample, confidence, count FROM findings "
                              f"WHERE {where} ORDER BY path, category, analyzer")

    def select_snapshot(self, ref: str) -> None:
        """Show a snapshot, by ``latest`` or a prefix of its ID, at its root."""
        with self._guarded():
            sid = self._match(ref)
            self._snapshot = sid
            self._set(self.picker, "value", sid)
            self._open(self._root(sid))

    def open_folder(self, path: str) -> None:
        """Show the folders below ``path`` in the snapshot on view, and the files inside it."""
        with self._guarded():
            self._resolve(None)
            self._open(path.rstrip("/") or "/")

    # -- what is shown ---------------------------------------------------------------------------------

    def _load(self) -> None:
        self._snapshots = self.store.sql(
            "SELECT snapshot_id, short_id, timestamp, root FROM snapshots ORDER BY timestamp DESC")
        summary = self.by_snapshot()
        self.snapshots_table.show(summary.drop(columns=["snapshot_id"]))
        self._set(self.picker, "options", [
            (f"{r.short_id}  {r.timestamp:%Y-%m-%d %H:%M}  {r.root}", r.snapshot_id)
            for r in self._snapshots.itertuples()])
        if not int(summary["files"].sum()):
            self.message.value = f"<i>{html.escape(NO_FINDINGS)}</i>"
            return
        with_findings = summary.loc[summary["files"] > 0, "snapshot_id"]
        self.select_snapshot(str(with_findings.iloc[0]))

    def _open(self, folder: str) -> None:
        root = self._root(self._resolve(None))
        if folder != root and not folder.startswith(_below(root)):
            raise kloset.NotFound(f"{folder} is not inside the snapshot's root {root}")
        self._folder = folder
        self.up_button.disabled = folder == root
        self.where.value = f"Folder <code>{html.escape(folder)}</code>"
        self._refresh_folders()

    def _refresh_folders(self) -> None:
        if self._snapshot is None or self._folder is None:
            return
        folders = self.by_folder(self._snapshot, self._folder)
        self.folders_table.show(folders)
        self._set(self.folder_picker, "options", [
            (f"{_relative(f, self._folder)}  ({n:,} file{'s' if n != 1 else ''})", f)
            for f, n in zip(folders["folder"], folders["files"], strict=True)])
        self._set(self.folder_picker, "value", None)
        categories = sorted(c for c in folders.columns if c not in ("folder", "files"))
        picked = self.category_picker.value
        self._set(self.category_picker, "options", [_ALL, *categories])
        self._set(self.category_picker, "value", picked if picked in categories else _ALL)
        self._refresh_files()

    def _refresh_files(self) -> None:
        if self._folder is None:
            return
        picked = self.category_picker.value
        self.files_table.show(self.files(self._folder, None if picked in (None, _ALL) else picked))

    def _up(self) -> None:
        if self._folder is not None and self._folder != self._root(self._resolve(None)):
            self._open(self._folder.rsplit("/", 1)[0] or "/")

    # -- plumbing --------------------------------------------------------------------------------------

    def _resolve(self, snapshot_id: str | None) -> str:
        if snapshot_id is not None:
            return self._match(snapshot_id)
        if self._snapshot is None:
            raise kloset.NotFound("no snapshot is picked")
        return self._snapshot

    def _match(self, ref: str) -> str:
        """A snapshot's ID from ``latest`` or a unique prefix of it."""
        ids = list(self._snapshots["snapshot_id"])  # newest first
        matches = ids[:1] if ref == "latest" else [i for i in ids if ref and i.startswith(ref.lower())]
        if not matches:
            raise kloset.NotFound(f"no snapshot {ref!r}")
        if len(matches) > 1:
            raise kloset.ConfigError(f"snapshot prefix {ref!r} is ambiguous ({len(matches)} snapshots)")
        return str(matches[0])

    def _root(self, snapshot_id: str) -> str:
        rows = self._snapshots.loc[self._snapshots["snapshot_id"] == snapshot_id, "root"]
        if rows.empty:
            raise kloset.NotFound(f"no snapshot {snapshot_id!r}")
        return str(rows.iloc[0]).rstrip("/") or "/"

    def _set(self, widget: w.Widget, name: str, value: Any) -> None:
        """Change a picker without its observer taking it for the user's choice."""
        quiet, self._quiet = self._quiet, True
        try:
            setattr(widget, name, value)
        finally:
            self._quiet = quiet

    def _react(self, action: Any, *args: Any) -> None:
        if self._quiet or (args and args[0] is None):
            return
        with self._guarded():
            action(*args)

    def _guarded(self) -> Any:
        return reported_in(self.message)
