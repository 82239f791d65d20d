"""The plots of a store: growth, data classes per snapshot, size by content type."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.figure import Figure

import kloset
from kloset.viewers.widgets import plot_content_types, plot_data_classes, plot_growth, plots

NOTES = "plain words\n" * 300
PII = "Write to jane.doe@example.com, IBAN DE89370400440532013000.\n"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "notes.txt").write_text(NOTES)
    (root / "pii.txt").write_text(PII)
    drawing = Figure(figsize=(1, 1))
    drawing.add_subplot().plot([0, 1], [1, 0])
    drawing.savefig(root / "plot.png")
    (root / "data.json").write_text('{"a": [1, 2, 3]}\n')
    return root


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[kloset.Store]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no test reads another's cache
    with kloset.create(str(tmp_path / "store"), plaintext=True) as s:
        yield s


def _said(fig: Figure) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_growth_plots_cumulative_logical_and_stored_bytes_and_their_ratio(store: kloset.Store, src: Path) -> None:
    first = store.backup(str(src))
    (src / "big.txt").write_text("x" * 50_000)
    second = store.backup(str(src))
    third = store.backup(str(src))  # nothing new: logical grows, stored barely
    fig = plot_growth(store)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    sizes, stored = ax_lines = fig.axes[0].get_lines()
    logical = [first.summary.size, first.summary.size + second.summary.size,
               first.summary.size + second.summary.size + third.summary.size]
    kept = [first.summary.stored, first.summary.stored + second.summary.stored,
            first.summary.stored + second.summary.stored + third.summary.stored]
    assert list(sizes.get_ydata()) == logical and list(stored.get_ydata()) == kept
    assert [str(line.get_label()) for line in ax_lines] == ["backed up (logical)", "stored"]
    (ratio,) = fig.axes[1].get_lines()
    assert list(ratio.get_ydata()) == pytest.approx([a / b for a, b in zip(logical, kept, strict=True)])
    assert ratio.get_ydata()[2] > ratio.get_ydata()[1]  # an unchanged backup costs little


def test_growth_of_an_empty_store_is_a_figure_that_says_so(store: kloset.Store) -> None:
    fig = plot_growth(store)
    assert "no snapshots" in _said(fig)


def test_data_classes_stack_the_files_of_each_class_per_snapshot(store: kloset.Store, src: Path) -> None:
    first = store.backup(str(src), analyze=["gdpr", "email"])
    (src / "contacts.txt").write_text("ask bob.smith@example.org\n")
    plain = store.backup(str(src))  # not analyzed: a gap in the bars
    third = store.backup(str(src), analyze=["gdpr", "email"])
    fig = plot_data_classes(store)
    (ax,) = fig.axes
    bars = {str(c.get_label()): [p.get_height() for p in c.patches] for c in ax.containers}
    assert bars == {"email": [1, 0, 2], "iban": [1, 0, 1]}
    # Stacked: iban's bars start on top of email's.
    iban = next(c for c in ax.containers if c.get_label() == "iban")
    assert [p.get_y() for p in iban.patches] == [1, 0, 2]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert [label.split("\n")[0] for label in labels] == [first.short_id, plain.short_id, third.short_id]


def test_data_classes_without_findings_say_so(store: kloset.Store, src: Path) -> None:
    assert "no findings" in _said(plot_data_classes(store))
    store.backup(str(src))
    assert "no findings" in _said(plot_data_classes(store))


def test_content_types_sum_the_size_of_files_largest_first(store: kloset.Store, src: Path) -> None:
    old = store.backup(str(src))
    (src / "more.txt").write_text("x" * 7000)
    snap = store.backup(str(src))
    png = len((src / "plot.png").read_bytes())
    text = len(NOTES) + len(PII) + 7000
    fig = plot_content_types(store)  # the latest snapshot
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    widths = [p.get_width() for p in ax.patches]
    shown = dict(zip(labels, widths, strict=True))
    assert shown["text/plain (3)"] == text and shown["image/png (1)"] == png
    assert widths == sorted(widths, reverse=True) and len(labels) == 3
    assert snap.short_id in ax.get_title()

    older = plot_content_types(old).axes[0]
    assert dict(zip([t.get_text() for t in older.get_yticklabels()], [p.get_width() for p in older.patches],
                    strict=True))["text/plain (2)"] == len(NOTES) + len(PII)


def test_content_types_past_the_top_ones_are_summed_as_other(store: kloset.Store, src: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    snap = store.backup(str(src))
    monkeypatch.setattr(plots, "TOP_CONTENT_TYPES", 1)
    (ax,) = plot_content_types(snap).axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    widths = [p.get_width() for p in ax.patches]
    assert labels == ["text/plain (2)", "other (2)"]
    assert widths == [len(NOTES) + len(PII), snap.summary.size - len(NOTES) - len(PII)]


def test_content_types_of_an_empty_store_say_so(store: kloset.Store) -> None:
    assert "no snapshots" in _said(plot_content_types(store))


def test_without_matplotlib_plots_say_what_to_install(store: kloset.Store, src: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store.backup(str(src))
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # an import of it now fails
    for plot in (plot_growth, plot_data_classes, plot_content_types):
        with pytest.raises(kloset.ConfigError, match=r"pip install 'kloset\[plots\]'"):
            plot(store)
