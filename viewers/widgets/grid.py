"""A paged table: the rows stay in Python, the browser gets the HTML of one page at a time.

Both the SQL explorer's result and the dashboard's tables can run to millions of rows; a widget that
sent them all would stall the notebook, so only ``page_size`` rows are ever rendered.
"""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

_STYLE = ("<style>.kloset-grid{border-collapse:collapse;font-size:12px}"
          ".kloset-grid th,.kloset-grid td{border:1px solid #ddd;padding:2px 6px;text-align:left;"
          "vertical-align:top;white-space:pre-wrap}.kloset-grid th{background:#f4f4f4}</style>")


def table_html(frame: pd.DataFrame, *, empty: str = "no rows") -> str:
    """A DataFrame as an escaped HTML table (cell text may come from file names or file contents)."""
    if frame.columns.empty:
        return f"<i>{empty}</i>"
    return _STYLE + frame.to_html(index=False, escape=True, na_rep="", border=0, classes="kloset-grid")


class PagedTable(w.VBox):
    """An HTML table of ``page_size`` rows with Prev/Next buttons and a "rows 51–100 of 1,234" label."""

    def __init__(self, *, page_size: int = 50, empty: str = "no rows") -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size = page_size
        self.empty = empty
        self._rows: pd.DataFrame | None = None
        self._start = 0
        self.html = w.HTML()
        self.prev_button = w.Button(description="Prev", icon="chevron-left", disabled=True,
                                    layout=w.Layout(width="auto"))
        self.next_button = w.Button(description="Next", icon="chevron-right", disabled=True,
                                    layout=w.Layout(width="auto"))
        self.label = w.Label()
        self.prev_button.on_click(lambda _: self.prev_page())
        self.next_button.on_click(lambda _: self.next_page())
        super().__init__([self.html, w.HBox([self.prev_button, self.next_button, self.label])])
        self._render()

    # -- public ----------------------------------------------------------------------------------------

    @property
    def rows(self) -> pd.DataFrame | None:
        """Everything the table holds (None before :meth:`show`)."""
        return self._rows

    @property
    def total(self) -> int:
        return 0 if self._rows is None else len(self._rows)

    @property
    def start(self) -> int:
        """The offset of the first row of the current page."""
        return self._start

    @property
    def page(self) -> pd.DataFrame:
        """The current page's rows."""
        if self._rows is None:
            return pd.DataFrame()
        return self._rows.iloc[self._start:self._start + self.page_size]

    def show(self, rows: pd.DataFrame | None) -> None:
        """Hold new rows and show their first page."""
        self._rows = rows
        self._start = 0
        self._render()

    def next_page(self) -> None:
        if self._start + self.page_size < self.total:
            self._start += self.page_size
            self._render()

    def prev_page(self) -> None:
        if self._start > 0:
            self._start = max(0, self._start - self.page_size)
            self._render()

    # -- rendering -------------------------------------------------------------------------------------

    def _render(self) -> None:
        total = self.total
        if self._rows is None:
            self.html.value, self.label.value = "", ""
        elif total == 0:
            self.html.value = table_html(self.page, empty=self.empty)
            self.label.value = "no rows"
        else:
            self.html.value = table_html(self.page, empty=self.empty)
            end = min(self._start + self.page_size, total)
            self.label.value = f"rows {self._start + 1:,}–{end:,} of {total:,}"
        self.prev_button.disabled = self._start == 0
        self.next_button.disabled = self._start + self.page_size >= total

