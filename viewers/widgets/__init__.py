"""Jupyter for kloset: rich displays, widgets and plots (the ``widgets`` viewer, ``kloset[widgets]``).

    from kloset.viewers.widgets import SnapshotBrowser, SQLExplorer, FindingsDashboard
    SnapshotBrowser(store)            # pick a snapshot, expand folders, preview, restore
    SQLExplorer(store)                # SQL editor, paged result grid, CSV export
    FindingsDashboard(store)          # data classes per snapshot and folder, down to files
    plot_growth(store)                # matplotlib figures (``kloset[plots]``)

Stores, snapshots and entries display themselves in a notebook through this module's ``*_html``
functions. Everything loads on first use: the displays need no ipywidgets, the plots no widgets.
"""

from __future__ import annotations

from kloset.lazy import lazy_names

_LAZY = {
    "store_html": ".display",
    "snapshot_html": ".display",
    "entry_html": ".display",
    "SnapshotBrowser": ".browser",
    "SQLExplorer": ".explorer",
    "FindingsDashboard": ".dashboard",
    "plot_growth": ".plots",
    "plot_data_classes": ".plots",
    "plot_content_types": ".plots",
    "message_html": ".notice",
}


__getattr__ = lazy_names(__name__, globals(), _LAZY)


__all__ = sorted(_LAZY)
