"""The SQL viewer on real stores and a real DuckDB: its tables, pruning, errors, and `kloset sql`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import kloset
from kloset.cli.main import main
from kloset.viewers.sql import index as sql_index


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KLOSET_PASSPHRASE", "sql secret")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("alpha\n")
    (root / "docs" / "b.csv").write_text("x,y\n1,2\n3,4\n")
    (root / "big.bin").write_bytes(os.urandom(3 << 20))
    (root / "same.txt").write_text("alpha\n")
    (root / "link").symlink_to("docs/a.txt")
    (root / "crm").mkdir()
    (root / "crm" / "people.txt").write_text("Write to jane.doe@example.com, IBAN GB82 WEST 1234 5698 7654 32\n")
    (root / "mail").mkdir()
    (root / "mail" / "m.eml").write_bytes(MESSAGE)
    return root


def _message() -> bytes:
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"], m["Cc"] = "Ann Lee <ann@example.com>", "bob@example.org", "cy@example.net"
    m["Subject"], m["Date"], m["Message-ID"] = "Invoice", "Tue, 02 Jan 2024 10:00:00 +0000", "<i1@example.com>"
    m.set_content("Invoice attached.\n")
    m.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf")
    return bytes(m)


MESSAGE = _message()


@pytest.fixture
def store(tmp_path: Path, src: Path) -> Iterator[kloset.Store]:
    """Two snapshots: the tree, then the tree with one file added and one removed."""
    s = kloset.create(str(tmp_path / "store"))
    s.backup(str(src), tags=["first"])
    (src / "docs" / "c.txt").write_text("gamma\n")
    (src / "same.txt").unlink()
    s.backup(str(src), tags=["second"], analyze=["gdpr", "email"])
    yield s
    s.close()


def test_snapshots_table_has_one_row_per_snapshot(store: kloset.Store) -> None:
    df = store.sql("SELECT * FROM snapshots ORDER BY timestamp")
    snaps = store.snapshots()
    assert list(df.snapshot_id) == [s.id for s in snaps]
    assert list(df.short_id) == [s.short_id for s in snaps]
    assert [list(t) for t in df.tags] == [["first"], ["second"]]
    assert list(df.files) == [s.summary.files for s in snaps]
    for col in ("timestamp", "duration", "hostname", "username", "name", "category", "environment", "job",
                "importer_type", "origin", "root", "dirs", "errors", "size", "stored_size"):
        assert col in df.columns


def test_files_table_matches_the_snapshot_index(store: kloset.Store, src: Path) -> None:
    latest = store.snapshot("latest")
    df = store.sql(f"SELECT * FROM files WHERE snapshot_id = '{latest.id}' ORDER BY path")
    ref = latest.files().sort_values("path")
    assert list(df.path) == list(ref.path)
    assert list(df["size"]) == list(ref["size"])
    assert list(df.object_id.fillna("")) == list(ref.object_id.fillna(""))
    row = df[df.path == f"{src}/docs/a.txt"].iloc[0]
    assert (row.dirname, row["name"], row.type, row.content_type) == (f"{src}/docs", "a.txt", "file", "text/plain")
    link = df[df.path == f"{src}/link"].iloc[0]
    assert (link.type, link.target) == ("symlink", "docs/a.txt")
    assert df[df.path == str(src)].iloc[0].type == "dir"


def test_cross_snapshot_questions_are_one_query(store: kloset.Store, src: Path) -> None:
    first, second = (s.id for s in store.snapshots())
    changed = store.sql(f"""
        SELECT coalesce(a.path, b.path) AS path,
               CASE WHEN a.path IS NULL THEN 'added' WHEN b.path IS NULL THEN 'removed' ELSE 'modified' END AS change
        FROM (SELECT * FROM files WHERE snapshot_id = '{first}') a
        FULL JOIN (SELECT * FROM files WHERE snapshot_id = '{second}') b ON a.path = b.path
        WHERE a.path IS NULL OR b.path IS NULL OR a.object_id IS DISTINCT FROM b.object_id
        ORDER BY path""")
    assert dict(zip(changed.path, changed.change, strict=True)) == {
        f"{src}/docs/c.txt": "added", f"{src}/same.txt": "removed"}
    dups = store.sql("""SELECT object_id, count(DISTINCT path) AS paths FROM files
                        WHERE type = 'file' GROUP BY object_id HAVING count(DISTINCT path) > 1""")
    assert list(dups.paths) == [2]  # docs/a.txt and same.txt hold the same bytes


def test_chunks_objects_and_packfiles(store: kloset.Store) -> None:
    latest = store.snapshot("latest").id
    chunks = store.sql(f"""SELECT object_id, sum(size) AS size, count(*) AS n FROM chunks
                          WHERE snapshot_id = '{latest}' GROUP BY object_id""")
    files = store.sql(f"SELECT object_id, size, chunks FROM files WHERE snapshot_id = '{latest}' AND size > 0")
    merged = files.merge(chunks, on="object_id", suffixes=("", "_c"))
    assert len(merged) == len(files)
    assert (merged["size"] == merged["size_c"]).all() and (merged["chunks"] == merged["n"]).all()
    objects = store.sql("SELECT * FROM objects WHERE size = 3145728")
    assert (len(objects), int(objects.snapshots[0])) == (1, 2)  # stored once, in both snapshots
    packs = store.sql("SELECT sum(blobs) AS blobs FROM packfiles")
    assert int(packs.blobs[0]) == store.info()["blobs"]


def test_a_query_naming_one_snapshot_reads_no_piece_of_another(store: kloset.Store,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    real = sql_index.IndexFileSystem.piece

    def spy(self: sql_index.IndexFileSystem, path: str) -> bytes:
        read.append(path)
        return real(self, path)

    monkeypatch.setattr(sql_index.IndexFileSystem, "piece", spy)
    first, second = (s.id for s in store.snapshots())
    assert int(store.sql(f"SELECT count(*) AS n FROM files WHERE snapshot_id = '{first}'").n[0]) > 0
    assert read and all(f"/{first}/" in p for p in read)
    assert not any(second in p for p in read)


def test_a_damaged_piece_names_its_snapshot(store: kloset.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = store.snapshot("latest")
    real = kloset.Snapshot.read_piece

    def damaged(self: kloset.Snapshot, name: str, piece_id: str) -> bytes:
        if self.id == victim.id:
            raise kloset.IntegrityError("blob 1234 in packfile 5678: authentication tag mismatch")
        return real(self, name, piece_id)

    monkeypatch.setattr(kloset.Snapshot, "read_piece", damaged)
    with pytest.raises(kloset.IntegrityError, match=f"snapshot {victim.short_id}"):
        store.sql("SELECT count(*) FROM files")
    result = store.query("SELECT path FROM files")
    with pytest.raises(kloset.IntegrityError, match=f"snapshot {victim.short_id}"):
        list(result.batches())
    assert store.sql(f"SELECT count(*) AS n FROM files WHERE snapshot_id <> '{victim.id}'").n[0] > 0


@pytest.mark.timeout(300)
def test_scans_never_call_python_from_pyarrow_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pyarrow's own scan of pieces served from Python deadlocked now and then (see index.py): its I/O
    # threads took the GIL to read a piece while the scanning thread held it, waiting for them. The
    # pieces are now read by the scanning thread: pyarrow's file system path must never be taken.
    from kloset.snapshot import index as snapshot_index

    monkeypatch.setattr(snapshot_index, "AVERAGE_ROWS", 16)
    monkeypatch.setattr(snapshot_index, "MIN_ROWS", 2)
    calls: list[str] = []
    monkeypatch.setattr(sql_index.IndexFileSystem, "_open", lambda self, path, *a, **k: calls.append(path))
    monkeypatch.setattr(sql_index.IndexFileSystem, "info", lambda self, path, **k: calls.append(path))
    tree = tmp_path / "many"
    for d in range(100):
        (tree / f"d{d}").mkdir(parents=True)
        for f in range(30):
            (tree / f"d{d}" / f"f{f}.txt").write_text("x" * (d * 30 + f))
    location = str(tmp_path / "pieces")
    kloset.create(location).backup(str(tree))
    query = "SELECT count(*), sum(size) FROM files WHERE type = 'file' AND size >= 300"
    for _ in range(10):
        with kloset.open(location) as s:
            assert len(list(s.snapshot().table_pieces("files"))) > 50
            assert s.sql_rows(query)[1] == [(2700, sum(range(300, 3000)))]
            assert s.sql_rows("SELECT count(*) FROM chunks")[1][0][0] > 0
    assert calls == []


@pytest.mark.parametrize("query", ["SELEC 1", "SELECT * FROM no_such_table", "SELECT no_such_column FROM files"])
def test_bad_queries_are_query_errors(store: kloset.Store, query: str) -> None:
    with pytest.raises(kloset.QueryError):
        store.sql(query)


def test_sql_cannot_write_to_the_store(store: kloset.Store, tmp_path: Path) -> None:
    before = sorted((p.relative_to(tmp_path), p.stat().st_size) for p in (tmp_path / "store").rglob("*"))
    with pytest.raises(kloset.QueryError):
        store.sql("COPY (SELECT 1) TO 'kloset-index://files/x/y.parquet'")
    with pytest.raises(kloset.QueryError):
        store.sql("INSERT INTO files_pieces VALUES (1)")
    after = sorted((p.relative_to(tmp_path), p.stat().st_size) for p in (tmp_path / "store").rglob("*"))
    assert before == after


def test_new_snapshots_appear_in_the_next_query(store: kloset.Store, src: Path) -> None:
    assert int(store.sql("SELECT count(*) AS n FROM snapshots").n[0]) == 2
    store.backup(str(src))
    assert int(store.sql("SELECT count(*) AS n FROM snapshots").n[0]) == 3


def test_arrow_and_relation_results(store: kloset.Store) -> None:
    t = store.sql_arrow("SELECT path, size FROM files")
    assert t.column_names == ["path", "size"] and t.num_rows > 0
    result = store.query("SELECT path FROM files")
    assert len(result.fetchall()) == t.num_rows
    assert sum(b.num_rows for b in result.batches(rows=2)) == t.num_rows
    assert result.columns == ["path"]


# -- the command ------------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kloset_sql_prints_an_aligned_table(store: kloset.Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "at", store.location, "sql", "SELECT short_id, files FROM snapshots ORDER BY timestamp")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["short_id", "files"] and set(lines[1]) <= {"-", " "}
    assert [ln.split()[0] for ln in lines[2:]] == [s.short_id for s in store.snapshots()]
    assert len({len(ln) for ln in lines[2:]}) == 1  # aligned


def test_kloset_sql_csv_and_json(store: kloset.Store, capsys: pytest.CaptureFixture[str]) -> None:
    q = "SELECT short_id, tags, timestamp FROM snapshots ORDER BY timestamp"
    code, out, _ = _run(capsys, "at", store.location, "sql", "--json", q)
    assert code == 0
    rows = json.loads(out)
    assert [r["tags"] for r in rows] == [["first"], ["second"]]
    code, out, _ = _run(capsys, "at", store.location, "sql", "--csv", q)
    assert code == 0 and out.splitlines()[0] == "short_id,tags,timestamp" and len(out.splitlines()) == 3


def test_kloset_sql_errors_exit_non_zero(store: kloset.Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "at", store.location, "sql", "SELECT * FROM nowhere")
    assert code == 2 and out == "" and "nowhere" in err


def test_kloset_sql_reads_statements_from_its_input(store: kloset.Store, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT 40 + 2 AS answer;\nSELECT nope;\nSELECT\n'x' AS y;\n"))
    code, out, err = _run(capsys, "at", store.location, "sql", "--csv")
    assert out.splitlines() == ["answer", "42", "y", "x"]
    assert "nope" in err and code == 2  # the failed statement is reported, the next one still runs


def test_findings_and_emails_tables_hold_the_analysis(store: kloset.Store, src: Path) -> None:
    first, second = (s.id for s in store.snapshots())
    f = store.sql("SELECT * FROM findings ORDER BY path, analyzer, category")
    assert set(f.snapshot_id) == {second}  # only the second snapshot was analyzed
    people = f[f.path == f"{src}/crm/people.txt"]
    assert set(people.category) >= {"email", "iban"}
    iban = people[people.category == "iban"].iloc[0]
    assert (iban["analyzer"], iban["count"], iban["sample"], iban["confidence"]) == ("gdpr", 1, "GB***", 0.99)
    assert iban["offset"] == (src / "crm" / "people.txt").read_bytes().index(b"GB82")
    e = store.sql("SELECT * FROM emails")
    assert len(e) == 1
    m = e.iloc[0]
    assert (m.path, m.sender, m.sender_name, list(m.recipients), list(m.cc), m.subject, m.message_id) == (
        f"{src}/mail/m.eml", "ann@example.com", "Ann Lee", ["bob@example.org"], ["cy@example.net"], "Invoice",
        "<i1@example.com>")
    assert store.sql("SELECT epoch(date) AS t FROM emails").t[0] == 1704189600  # 2024-01-02 10:00 UTC
    assert [dict(a) for a in m.attachments] == [{"name": "invoice.pdf", "content_type": "application/pdf",
                                                 "size": len(b"%PDF-1.4 invoice")}]
    # The same rows as the Python API gives, and the tables follow a later analysis of the first snapshot.
    assert len(store.snapshot(second).findings()) == len(f)
    store.snapshot(first).analyze(["email"])
    assert set(store.sql("SELECT snapshot_id FROM emails").snapshot_id) == {first, second}


# -- docs/sql.md --------------------------------------------------------------------------------------

DOC = Path(__file__).parents[2] / "docs" / "sql.md"
RECIPES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)


def test_the_documentation_has_its_recipes() -> None:
    assert len(RECIPES) >= 6


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.splitlines()[0][:40] for r in RECIPES])
def test_every_documented_recipe_runs(store: kloset.Store, recipe: str) -> None:
    df = store.sql(recipe)
    assert len(df.columns) >= 2
    assert len(df) > 0


def test_documented_columns_exist(store: kloset.Store) -> None:
    for table in ("snapshots", "files", "chunks", "objects", "xattrs", "errors", "packfiles", "findings", "emails"):
        section = DOC.read_text().split(f"### `{table}`")[1].split("###")[0].split("\n## ")[0]
        documented = {c for c in re.findall(r"`([a-z_]+)`", section) if c not in {
            "file", "dir", "symlink", "fifo", "socket", "device", "fs"}}
        columns = set(store.sql(f"SELECT * FROM {table} LIMIT 0").columns)
        assert documented <= columns, (table, documented - columns)


# -- contents ---------------------------------------------------------------------------------------


def test_files_inside_a_backup_read_from_sql(store: kloset.Store, src: Path) -> None:
    df = store.sql(f"SELECT * FROM read_csv('kloset://latest{src}/docs/b.csv') ORDER BY x")
    assert list(df.x) == [1, 3] and list(df.y) == [2, 4]
    first = store.snapshots()[0].short_id
    df = store.sql(f"SELECT content FROM read_text('kloset://{first}{src}/same.txt')")
    assert list(df.content) == ["alpha\n"]  # same.txt is only in the first snapshot
    df = store.sql(f"SELECT filename FROM read_text('kloset://latest{src}/docs/*.txt') ORDER BY 1")
    assert [f.rsplit("/", 1)[1] for f in df.filename] == ["a.txt", "c.txt"]
    df = store.sql(f"""SELECT kloset_read_text('latest', '{src}/docs/a.txt') AS text,
                              octet_length(kloset_read_blob('latest', '{src}/big.bin')) AS n""")
    assert (df.text[0], int(df.n[0])) == ("alpha\n", 3 << 20)


def test_a_file_missing_from_the_snapshot_is_a_query_error(store: kloset.Store, src: Path) -> None:
    with pytest.raises(kloset.QueryError):
        store.sql(f"SELECT * FROM read_text('kloset://latest{src}/same.txt')")  # removed before it


def test_sql_cannot_write_into_a_snapshot(store: kloset.Store, tmp_path: Path) -> None:
    with pytest.raises(kloset.QueryError):
        store.sql("COPY (SELECT 1 AS x) TO 'kloset://latest/tmp/out.csv'")


def test_duckdbs_interrupt_is_a_keyboard_interrupt_and_its_errors_query_errors() -> None:
    import duckdb

    from kloset.viewers.sql.connection import _translated

    # DuckDB reports a query stopped by SIGINT as a bare RuntimeError; Python code (and `kloset sql`'s
    # exit status 130) expects KeyboardInterrupt. tests/viewers/test_explorer.py sends the real signal.
    with pytest.raises(KeyboardInterrupt), _translated():
        raise RuntimeError("Query interrupted")
    with pytest.raises(RuntimeError, match="other"), _translated():
        raise RuntimeError("other")
    with pytest.raises(kloset.QueryError, match="no such table"), _translated():
        raise duckdb.CatalogException("no such table")


@pytest.mark.timeout(120)
def test_sigint_stops_a_running_query_and_the_connection_goes_on(store: kloset.Store) -> None:
    import threading

    from .interrupts import LONG_QUERY, sigint_while_running

    store.sql("SELECT 1")  # the store's connection is set up before the signals start
    with sigint_while_running(), pytest.raises(KeyboardInterrupt):
        store.sql(LONG_QUERY)
    # The query's thread was interrupted and has ended: nothing goes on running behind the caller.
    assert not any(t.name == "kloset-sql-query" for t in threading.enumerate())
    assert store.sql("SELECT count(*) AS n FROM snapshots").n[0] == len(store.snapshots())
