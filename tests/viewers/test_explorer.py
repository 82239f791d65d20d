"""The SQL explorer widget, driven as a notebook user drives it: the editor, Run, Prev/Next, Export."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import kloset
from kloset.viewers.widgets import SQLExplorer

FILES = "SELECT path, size FROM files WHERE type = 'file' ORDER BY path"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kloset.Store]:
    base = tmp_path_factory.mktemp("explorer")
    src = base / "src"
    (src / "many").mkdir(parents=True)
    (src / "people" / "hr").mkdir(parents=True)
    for i in range(130):
        (src / "many" / f"f{i:03}.txt").write_text("x" * i)
    (src / "people" / "contacts.txt").write_text("anna.smith@example.com, bob@example.org\n")
    (src / "people" / "hr" / "pay.txt").write_text("IBAN DE89370400440532013000\ncard 4111 1111 1111 1111\n")
    (src / "a<b>&c.txt").write_text("clean\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        s = kloset.create(str(base / "store"), plaintext=True)
        s.backup(str(src), analyze=["gdpr", "email"])
        yield s
        s.close()


def test_run_button_shows_the_default_query_first_page(store: kloset.Store) -> None:
    explorer = SQLExplorer(store)
    assert explorer.result is None and explorer.grid.html.value == ""
    explorer.run_button.click()
    short_id = store.snapshot().short_id
    assert short_id in explorer.grid.html.value
    assert explorer.page_label == "rows 1–1 of 1"
    assert list(explorer.result["short_id"]) == [short_id]  # type: ignore[index]
    assert explorer.message.value == ""


def test_pages_move_through_the_result_sending_one_page_at_a_time(store: kloset.Store) -> None:
    expected = store.sql(FILES)
    total = len(expected)
    assert total > 100
    explorer = SQLExplorer(store, FILES, page_size=50)
    explorer.run_button.click()
    first, second = (html.escape(p) for p in expected["path"].iloc[[0, 50]])
    assert explorer.page_label == f"rows 1–50 of {total:,}"
    assert first in explorer.grid.html.value and second not in explorer.grid.html.value
    assert explorer.grid.prev_button.disabled and not explorer.grid.next_button.disabled

    explorer.grid.next_button.click()
    assert explorer.page_label == f"rows 51–100 of {total:,}"
    assert list(explorer.page["path"]) == list(expected["path"].iloc[50:100])
    assert second in explorer.grid.html.value and first not in explorer.grid.html.value
    assert explorer.grid.html.value.count("</tr>") == 51  # the header and this page's rows, no more

    explorer.next_page()
    explorer.next_page()  # past the end: stays on the last page
    assert explorer.page_label == f"rows 101–{total} of {total:,}"
    assert explorer.grid.next_button.disabled
    explorer.prev_page()
    assert explorer.page_label == f"rows 51–100 of {total:,}"
    assert len(explorer.result) == total  # type: ignore[arg-type]


def test_cells_are_escaped(store: kloset.Store) -> None:
    explorer = SQLExplorer(store)
    explorer.run("SELECT name FROM files WHERE name LIKE 'a<%'")
    assert "a&lt;b&gt;&amp;c.txt" in explorer.grid.html.value
    assert "<b>&c" not in explorer.grid.html.value


def test_export_writes_the_whole_result_not_the_page(store: kloset.Store, tmp_path: Path) -> None:
    explorer = SQLExplorer(store, FILES, page_size=10)
    explorer.run()
    target = tmp_path / "out.csv"
    explorer.csv_path.value = str(target)
    explorer.export_button.click()
    expected = store.sql(FILES)
    back = pd.read_csv(target)
    assert len(back) == len(expected) > 10
    assert back["path"].tolist() == expected["path"].tolist()
    assert back["size"].tolist() == expected["size"].tolist()
    assert f"Wrote {len(expected):,} rows" in explorer.message.value

    findings = ("SELECT path, category, sample, count FROM findings ORDER BY path, category")
    explorer.run(findings)
    assert explorer.export_csv(tmp_path / "findings.csv") == len(store.sql(findings))
    back = pd.read_csv(tmp_path / "findings.csv")
    assert set(back["category"]) >= {"email", "iban", "credit_card"}
    assert back.astype(str).values.tolist() == store.sql(findings).astype(str).values.tolist()


def test_a_bad_query_is_a_message_in_the_widget(store: kloset.Store,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    explorer = SQLExplorer(store, FILES)
    explorer.run_button.click()
    explorer.editor.value = "SELECT nope FROM nowhere"
    explorer.run_button.click()  # must not raise
    assert "Query error" in explorer.message.value and "nowhere" in explorer.message.value
    assert explorer.result is None and explorer.grid.html.value == "" and explorer.page_label == ""
    assert explorer.page.empty
    explorer.editor.value = "   "
    explorer.run_button.click()
    assert "the query is empty" in explorer.message.value
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err

    explorer.run("SELECT 1 AS one")  # a good query clears the message
    assert explorer.message.value == "" and explorer.page_label == "rows 1–1 of 1"


def test_export_failures_are_messages_when_clicked(store: kloset.Store, tmp_path: Path) -> None:
    explorer = SQLExplorer(store)
    explorer.csv_path.value = str(tmp_path / "early.csv")
    explorer.export_button.click()
    assert "run a query" in explorer.message.value and not (tmp_path / "early.csv").exists()
    with pytest.raises(kloset.ConfigError):
        explorer.export_csv(tmp_path / "early.csv")

    explorer.run()
    explorer.csv_path.value = ""
    explorer.export_button.click()
    assert "name the CSV file" in explorer.message.value
    explorer.csv_path.value = str(tmp_path / "no" / "such" / "folder" / "x.csv")
    explorer.export_button.click()
    assert "cannot write" in explorer.message.value


def test_an_empty_result_shows_its_columns(store: kloset.Store) -> None:
    explorer = SQLExplorer(store)
    explorer.run("SELECT path AS only_column FROM files WHERE false")
    assert "only_column" in explorer.grid.html.value
    assert explorer.page_label == "no rows"
    assert explorer.grid.next_button.disabled and explorer.grid.prev_button.disabled


@pytest.mark.timeout(120)
def test_an_interrupted_query_is_a_message_and_the_explorer_goes_on(store: kloset.Store) -> None:
    from .interrupts import LONG_QUERY, sigint_while_running

    explorer = SQLExplorer(store)
    explorer.run("SELECT 1")  # the store's connection is set up before the signals start
    with sigint_while_running():  # what a notebook's stop button does
        explorer.run(LONG_QUERY)
    assert "Interrupted" in explorer.message.value and explorer.result is None
    explorer.run("SELECT count(*) AS n FROM files")
    assert explorer.message.value == "" and explorer.page_label == "rows 1–1 of 1"
