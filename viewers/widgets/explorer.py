"""The SQL explorer: a query editor, a paged result grid and a CSV export, over a store's tables.

The result is held in the kernel as one DataFrame (what :meth:`kloset.Store.sql` returns); the browser
is sent the HTML of the page on view and nothing else, so a query over millions of entries can be
paged through without the notebook's front end holding them.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w
import pandas as pd

import kloset

from .grid import PagedTable
from .notice import reported_in


class SQLExplorer(w.VBox):
    """``SQLExplorer(store)`` in a notebook cell: write SQL (see docs/sql.md), run it, page, export."""

    def __init__(self, store: kloset.Store, query: str = "SELECT * FROM snapshots", *,
                 page_size: int = 50) -> None:
        self.store = store
        self._result: pd.DataFrame | None = None
        self.editor = w.Textarea(value=query, placeholder="SELECT ... FROM files ...",
                                 layout=w.Layout(width="100%", height="8em"))
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.grid = PagedTable(page_size=page_size, empty="the query returned no columns")
        self.csv_path = w.Text(placeholder="result.csv", description="CSV file", layout=w.Layout(width="50%"))
        self.export_button = w.Button(description="Export CSV", icon="download")
        self.message = w.HTML()
        self.run_button.on_click(lambda _: self.run())
        self.export_button.on_click(lambda _: self._export_clicked())
        super().__init__([self.editor, self.run_button, self.message, self.grid,
                          w.HBox([self.csv_path, self.export_button])])

    # -- public ----------------------------------------------------------------------------------------

    @property
    def result(self) -> pd.DataFrame | None:
        """The whole result of the last query that ran (None before one has, or after a failed one)."""
        return self._result

    @property
    def page(self) -> pd.DataFrame:
        """The rows of the page on view."""
        return self.grid.page

    @property
    def page_label(self) -> str:
        return str(self.grid.label.value)

    def run(self, query: str | None = None) -> pd.DataFrame | None:
        """Run ``query`` (the editor's text when None, else put in the editor) and show its first page.

        A failure is shown in the widget and leaves no result; the result otherwise."""
        if query is not None:
            self.editor.value = query
        text = self.editor.value.strip()
        self._result = None
        self.grid.show(None)
        with reported_in(self.message):
            if not text:
                raise kloset.QueryError("the query is empty")
            rows = self.store.query(text)
            # A statement with no result (SET, CREATE...) still ran: it shows as no rows.
            frame = rows.df() if rows.relation is not None else pd.DataFrame()
            self._result = frame
            self.grid.show(frame)
        return self._result

    def next_page(self) -> None:
        self.grid.next_page()

    def prev_page(self) -> None:
        self.grid.prev_page()

    def export_csv(self, path: str | Path) -> int:
        """Write the whole result (every page) to a CSV file; the number of rows written.

        Raises :class:`kloset.ConfigError` when no query has run; see the Export button for the
        variant that reports in the widget instead."""
        if self._result is None:
            raise kloset.ConfigError("run a query before exporting its result")
        target = Path(path).expanduser()
        try:
            self._result.to_csv(target, index=False)
        except OSError as e:
            raise kloset.ConfigError(f"cannot write {target}: {e.strerror or e}") from e
        self._show(_note(f"Wrote {len(self._result):,} rows to {target}"))
        return len(self._result)

    # -- callbacks -------------------------------------------------------------------------------------

    def _export_clicked(self) -> None:
        with reported_in(self.message):
            path = self.csv_path.value.strip()
            if not path:
                raise kloset.ConfigError("name the CSV file to write")
            self.export_csv(path)

    def _show(self, message: str) -> None:
        self.message.value = message


def _note(text: str) -> str:
    """A success message, in the shape of the failure messages but not their colour."""
    return (f'<div class="kloset-notice" style="border-left:4px solid #27ae60;padding:4px 8px;'
            f'background:#f2fbf5">{html.escape(text)}</div>')
