"""Figures of a store where a person would rather look than read (``kloset[plots]``).

Each function returns a :class:`matplotlib.figure.Figure`, which a notebook displays as it is. Figures are
made without pyplot: no global figure list grows with each call, and no GUI backend is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kloset
from kloset.progress import human_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TOP_CONTENT_TYPES = 12  # content types shown on their own; the rest are summed as "other"
MAX_FLAT_LABELS = 15  # snapshots labelled side by side under the bars; more are labelled upright
MAX_UPRIGHT_LABELS = 60

_FINDINGS = ("SELECT snapshot_id, category, count(DISTINCT path) AS files FROM findings "
             "WHERE category IS NOT NULL GROUP BY ALL")


def _figure(width: float = 8, height: float = 4) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise kloset.ConfigError("plots need matplotlib: pip install 'kloset[plots]'") from e
    _shown_as_png()
    return Figure(figsize=(width, height), layout="constrained")


def _shown_as_png() -> None:
    """Have IPython show a Figure that ends a cell as a picture. pyplot's inline backend would do it, but
    only once pyplot is imported or ``%matplotlib inline`` was run; these figures use neither."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)  # pyplot's inline backend already shows them
    except KeyError:
        png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def _bytes_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: human_bytes(v)))


def _nothing(title: str, text: str) -> Figure:
    """A figure saying there is nothing to plot: a notebook cell shows it rather than a traceback."""
    fig = _figure(6, 2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    return fig


def plot_growth(store: kloset.Store) -> Figure:
    """Bytes backed up against bytes stored over time, with their ratio (dedup and compression)."""
    snaps = store.snapshots()
    title = "store growth"
    if not snaps:
        return _nothing(title, "no snapshots")
    from matplotlib.dates import date2num

    times = date2num([s.timestamp for s in snaps])  # days, as matplotlib's date axes count
    logical: list[int] = []
    stored: list[int] = []
    ratio: list[float] = []
    for s in snaps:
        logical.append((logical[-1] if logical else 0) + s.summary.size)
        stored.append((stored[-1] if stored else 0) + s.summary.stored)
        ratio.append(logical[-1] / stored[-1] if stored[-1] else float("nan"))
    fig = _figure()
    ax: Axes = fig.add_subplot()
    ax.plot(times, logical, marker="o", label="backed up (logical)")
    ax.plot(times, stored, marker="o", label="stored")
    ax.set_ylim(bottom=0)
    _bytes_axis(ax.yaxis)
    ax.set_ylabel("cumulative size")
    ax.set_title(title)
    twin = ax.twinx()
    twin.plot(times, ratio, color="tab:green", linestyle="--", marker=".", label="dedup ratio")
    twin.set_ylim(bottom=0)
    twin.set_ylabel("backed up / stored")
    if times[0] == times[-1]:  # one moment: matplotlib would otherwise span years around it
        ax.set_xlim(times[0] - 0.5, times[0] + 0.5)
    ax.xaxis_date()
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="upper left")
    fig.autofmt_xdate()
    return fig


def plot_data_classes(store: kloset.Store) -> Figure:
    """Files per data class in each snapshot, as stacked bars (snapshots oldest first)."""
    title = "files per data class"
    frame = store.sql(_FINDINGS)
    if frame.empty:
        return _nothing(title, "no findings")
    counts = frame.pivot_table(index="snapshot_id", columns="category", values="files", aggfunc="sum", fill_value=0)
    snaps = store.snapshots()
    counts = counts.reindex([s.id for s in snaps], fill_value=0)
    categories = counts.sum().sort_values(ascending=False, kind="stable").index
    from matplotlib.ticker import MaxNLocator

    fig = _figure(min(16.0, max(6.0, 2 + 0.9 * len(snaps))), 4.5 if len(snaps) <= MAX_FLAT_LABELS else 6)
    ax: Axes = fig.add_subplot()
    x = list(range(len(snaps)))
    bottom = [0] * len(snaps)
    for category in categories:
        heights = [int(v) for v in counts[category]]
        ax.bar(x, heights, width=0.6, bottom=bottom, label=str(category))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    if len(snaps) <= MAX_FLAT_LABELS:
        ax.set_xticks(x, [f"{s.short_id}\n{s.timestamp:%Y-%m-%d}" for s in snaps], fontsize="small")
    else:  # upright labels, and no more of them than the width holds
        step = -(-len(snaps) // MAX_UPRIGHT_LABELS)
        ax.set_xticks(x[::step], [f"{s.short_id} {s.timestamp:%Y-%m-%d}" for s in snaps[::step]],
                      rotation=90, fontsize="small")
    ax.set_xlim(-0.7, len(snaps) - 0.3)  # a bar keeps its width when there are few snapshots
    ax.set_ylabel("files")
    ax.set_title(title)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="data class", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def plot_content_types(target: kloset.Store | kloset.Snapshot) -> Figure:
    """Total size by content type of a snapshot's files (a store's latest snapshot), largest first."""
    if isinstance(target, kloset.Snapshot):
        snap = target
    else:
        try:
            snap = target.snapshot()
        except kloset.NotFound:
            return _nothing("size by content type", "no snapshots")
    title = f"size by content type, snapshot {snap.short_id}"
    files = snap.files(["content_type", "size", "type"])
    files = files[files["type"] == "file"]
    if files.empty:
        return _nothing(title, "no files")
    kinds = files["content_type"].fillna("unknown").replace("", "unknown")
    sizes = files["size"].groupby(kinds).sum().sort_values(ascending=False, kind="stable")
    counts = kinds.value_counts()
    shown = sizes.iloc[:TOP_CONTENT_TYPES]
    labels = [f"{k} ({counts[k]:,})" for k in shown.index]
    widths = [int(v) for v in shown]
    rest = sizes.iloc[TOP_CONTENT_TYPES:]
    if not rest.empty:
        labels.append(f"other ({int(counts[rest.index].sum()):,})")
        widths.append(int(rest.sum()))
    fig = _figure(8, 1.2 + 0.35 * len(labels))
    ax: Axes = fig.add_subplot()
    bars = ax.barh(range(len(labels)), widths, tick_label=labels)
    ax.bar_label(bars, [human_bytes(w) for w in widths], padding=3, fontsize="small")
    ax.invert_yaxis()  # largest on top
    _bytes_axis(ax.xaxis)
    ax.margins(x=0.15)  # room for the labels at the bars' ends
    ax.set_xlabel("size (files in parentheses)")
    ax.set_title(title)
    return fig
