"""Dedup-aware analysis: results stored once per (analyzer, version, object), linked to snapshots.

The analyzers here are a third-party package written by the test: a distribution with entry points in a
folder on the path (and on PYTHONPATH, for worker processes), found by name like any installed one.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import kloset
from kloset import registry
from kloset.objects import BlobType, ResourceType
from kloset.testing.damage import damage_blob

PLUGIN = '''
import os
from kloset.analyzer import Analysis, Analyzer, Finding

class Secrets(Analyzer):
    """Finds the word "secret"; dies or raises on request, to test how failures are kept apart."""
    name = "secrets"
    version = int(os.environ.get("SECRETS_VERSION", "1"))
    content_types = ("text/*",)

    def __init__(self, options=None, *, content_type="", path=""):
        super().__init__(options, content_type=content_type, path=path)
        self.data = bytearray()

    def feed(self, data):
        self.data += data
        with open(os.environ["SECRETS_LOG"], "a") as log:
            log.write(f"{self.path}\\n")

    def finish(self):
        if b"boom" in self.data:
            raise ValueError("boom")
        if b"die now" in self.data:
            os._exit(3)
        n = self.data.count(b"secret")
        first = self.data.find(b"secret")
        return Analysis([Finding("secret", "s***", first, 0.5, n)] if n else [], ["secrets"] if n else [])

class Mail(Analyzer):
    """One message per line starting with "From: "."""
    name = "mail"
    version = 1
    table = "emails"

    def __init__(self, options=None, *, content_type="", path=""):
        super().__init__(options, content_type=content_type, path=path)
        self.senders = []

    @classmethod
    def wants(cls, content_type, path=""):
        return path.endswith(".eml")

    @classmethod
    def rows(cls, record):
        return record["messages"]

    def feed(self, data):
        self.senders += [line[6:].decode() for line in data.splitlines() if line.startswith(b"From: ")]

    def finish(self):
        return Analysis(record={"messages": [
            {"sender": s, "recipients": ["b@example.org"], "date": "2024-05-01T10:00:00+02:00",
             "attachments": [{"name": "a.pdf", "content_type": "application/pdf", "size": 10}]}
            for s in self.senders]})
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Installs the analyzers above as a distribution; yields the log of paths they were fed."""
    site = tmp_path / "site"
    (site / "secrets_analyzer").mkdir(parents=True)
    (site / "secrets_analyzer" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "secrets_analyzer-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: secrets-analyzer\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[kloset.analyzers]\nsecrets = secrets_analyzer:Secrets\nmail = secrets_analyzer:Mail\n"
        "needy = secrets_analyzer.needy:Needy\n")
    (site / "secrets_analyzer" / "needy.py").write_text("import a_module_nobody_installed  # noqa: F401\n")
    log = tmp_path / "fed.log"
    log.write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("SECRETS_LOG", str(log))
    registry._classes.cache_clear()
    yield log
    sys.modules.pop("secrets_analyzer", None)
    registry._classes.cache_clear()


def fed(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    (d / "a.txt").write_text("a secret and another secret\n")
    (d / "copy.txt").write_text("a secret and another secret\n")  # same content: analyzed once
    (d / "plain.txt").write_text("nothing to see\n")
    (d / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))  # not text: never read
    (d / "m.eml").write_text("From: ann@example.com\nhello\nFrom: bob@example.com\n")
    return d


def test_backup_analyze_finds_and_links_results(plugin: Path, src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(str(src), analyze=["secrets", "mail"])
    f = snap.findings()
    assert sorted(f["path"].str.rsplit("/", n=1).str[1]) == ["a.txt", "copy.txt"]
    assert set(f["category"]) == {"secret"} and set(f["count"]) == {2} and set(f["sample"]) == {"s***"}
    assert set(f["offset"]) == {2} and set(f["analyzer"]) == {"secrets"}
    assert snap.data_classes() == {"secret": 2}
    e = snap.emails()
    assert list(e["sender"]) == ["ann@example.com", "bob@example.com"] and list(e["seq"]) == [0, 1]
    assert str(e["date"][0]) == "2024-05-01 08:00:00+00:00"
    assert e["attachments"][0][0]["name"] == "a.pdf"
    # Content is fed once per object, during the backup's own read: the copy and the image are not.
    assert sorted(Path(p).name for p in fed(plugin)) == ["a.txt", "plain.txt"]
    assert [a["analyzers"] for a in snap.analyses()] == [["secrets@1", "mail@1"]]


def test_an_unchanged_backup_reads_no_content_and_keeps_the_findings(plugin: Path, src: Path,
                                                                    tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    first = store.backup(str(src), analyze=["secrets"])
    plugin.write_text("")
    second = store.backup(str(src), analyze=["secrets"])
    assert fed(plugin) == []
    assert second.data_classes() == first.data_classes() == {"secret": 2}
    report = second.analyze(["secrets"])
    assert (report.analyzed, report.bytes_read, report.reused, report.objects) == (0, 0, 2, 2)
    assert fed(plugin) == []


def test_content_is_analyzed_once_across_sources_and_snapshots(plugin: Path, src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    store.backup(str(src))  # not analyzed yet
    report = store.snapshot().analyze(["secrets"], processes=0)
    assert (report.analyzed, report.objects) == (2, 2)  # a.txt (= copy.txt) and plain.txt
    other = tmp_path / "other"
    shutil.copytree(src, other)
    (other / "new.txt").write_text("one more secret\n")
    plugin.write_text("")
    snap = store.backup(str(other), analyze=["secrets"])  # another source: a parent of its own
    assert [Path(p).name for p in fed(plugin)] == ["new.txt"]
    assert snap.data_classes() == {"secret": 3}


def test_a_new_analyzer_version_analyzes_again(plugin: Path, src: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    store.backup(str(src), analyze=["secrets"])
    monkeypatch.setenv("SECRETS_VERSION", "2")
    sys.modules.pop("secrets_analyzer", None)
    registry._classes.cache_clear()
    report = store.snapshot().analyze(["secrets"], processes=0)
    assert report.analyzers == ["secrets@2"] and report.analyzed == 2
    assert store.snapshot().data_classes() == {"secret": 2}


def test_results_survive_a_fresh_cache_and_a_copy_of_the_store(plugin: Path, src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), passphrase="pw")
    snap = store.backup(str(src), analyze=["secrets", "mail"])
    expected = snap.findings().drop(columns=["snapshot_id"])
    cache = store._repo.cache_dir
    store.close()
    assert cache is not None
    shutil.rmtree(cache)
    shutil.copytree(tmp_path / "store", tmp_path / "clone")
    for where in ("store", "clone"):
        plugin.write_text("")
        again = kloset.open(str(tmp_path / where), passphrase="pw")
        s = again.snapshot()
        assert s.findings().drop(columns=["snapshot_id"]).equals(expected)
        assert len(s.emails()) == 2
        assert s.analyze(["secrets", "mail"]).analyzed == 0 and fed(plugin) == []
        assert again.check().ok


def test_results_are_encrypted(plugin: Path, tmp_path: Path) -> None:
    d = tmp_path / "src"
    d.mkdir()
    (d / "m.eml").write_text("From: someone.very.findable@example.com\n")
    store = kloset.create(str(tmp_path / "store"), passphrase="pw")
    store.backup(str(d), analyze=["mail"])
    for pid in store.storage.list(ResourceType.PACKFILE):
        assert b"findable" not in store.storage.get(ResourceType.PACKFILE, pid)
    assert len(store.snapshot().emails()) == 1


def test_an_analyzer_that_fails_or_dies_loses_nothing_else(plugin: Path, src: Path, tmp_path: Path) -> None:
    (src / "bad.txt").write_text("boom\n")
    (src / "fatal.txt").write_text("die now\n")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    store.backup(str(src))
    report = store.snapshot().analyze(["secrets"], processes=2)
    errors = {Path(p).name: e for p, e in report.errors}
    assert set(errors) == {"bad.txt", "fatal.txt"}
    assert "ValueError: boom" in errors["bad.txt"] and "process died (exit code 3)" in errors["fatal.txt"]
    assert report.analyzed == 2 and store.snapshot().data_classes() == {"secret": 2}
    # No result was stored for what failed: the next run tries those again, and only those.
    plugin.write_text("")
    (src / "fatal.txt").write_text("changed\n")  # this process must live: the file is no longer read
    again = store.snapshot().analyze(["secrets"], processes=2)
    assert sorted(Path(p).name for p in fed(plugin)) == ["bad.txt", "fatal.txt"]
    assert sorted(Path(p).name for p, _ in again.errors) == ["bad.txt", "fatal.txt"]


def test_a_backup_with_an_analyzer_that_raises_still_succeeds(plugin: Path, src: Path, tmp_path: Path) -> None:
    (src / "bad.txt").write_text("boom\n")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(str(src), analyze=["secrets"], processes=2)
    assert snap.summary.files == 6 and snap.data_classes() == {"secret": 2}
    assert store.check().ok


def test_worker_processes_analyze_what_threads_analyze(plugin: Path, src: Path, tmp_path: Path) -> None:
    for i in range(40):
        (src / f"n{i}.txt").write_text(f"file {i} has a secret\n" * (i + 1))
    a = kloset.create(str(tmp_path / "a"), plaintext=True)
    b = kloset.create(str(tmp_path / "b"), plaintext=True)
    in_processes = a.backup(str(src), analyze=["secrets"], processes=2).findings()
    in_threads = b.backup(str(src), analyze=["secrets"], processes=0).findings()
    ids = ["snapshot_id", "object_id"]  # each store's IDs are its own
    assert in_processes.drop(columns=ids).equals(in_threads.drop(columns=ids))
    assert len(in_processes) == 42


def test_check_verifies_result_blobs(plugin: Path, src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    store.backup(str(src), analyze=["secrets"])
    idx = store._repo.index
    results = [i for i, t, *_ in idx.entries() if t == BlobType.RESULT]
    assert len(results) == 2 and store.check().ok


def test_unknown_analyzer_is_a_config_error(src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    with pytest.raises(kloset.ConfigError, match="no analyzer 'nope'"):
        store.backup(str(src), analyze=["nope"])
    assert store.snapshots() == []


def test_damaged_content_is_reported_and_the_rest_analyzed(plugin: Path, src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), passphrase="pw")
    snap = store.backup(str(src))
    damage_blob(store, bytes.fromhex(snap.stat(f"{src}/plain.txt")["object_id"].hex()))
    report = kloset.open(str(tmp_path / "store"), passphrase="pw").snapshot().analyze(["secrets"], processes=0)
    assert [(Path(p).name, e.startswith("content unreadable")) for p, e in report.errors] == [("plain.txt", True)]
    assert report.analyzed == 1 and store.snapshot().data_classes() == {"secret": 2}


def test_a_damaged_result_is_analyzed_again(plugin: Path, src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), passphrase="pw")
    store.backup(str(src), analyze=["secrets"])
    results = [i for i, t, *_ in store._repo.index.entries() if t == BlobType.RESULT]
    for rid in results:
        damage_blob(store, rid)
    plugin.write_text("")
    again = kloset.open(str(tmp_path / "store"), passphrase="pw")
    shutil.copytree(src, tmp_path / "elsewhere")  # another source: no parent analysis to take rows from
    snap = again.backup(str(tmp_path / "elsewhere"), analyze=["secrets"])
    assert snap.data_classes() == {"secret": 2}
    assert sorted(Path(p).name for p in fed(plugin)) == ["a.txt", "plain.txt"]
    assert not again.check().ok  # the damage is still there for check to report


def test_options_are_part_of_a_results_key(plugin: Path, src: Path, tmp_path: Path) -> None:
    from kloset.registry import analyzer_class

    secrets = analyzer_class("secrets")
    assert secrets.key() == secrets.key({}) == "secrets@1"
    assert secrets.key({"unmasked": "1"}) != secrets.key() and secrets.key({"unmasked": "1"}).startswith("secrets@1+")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    store.backup(str(src), analyze=["secrets"])
    plugin.write_text("")
    report = store.snapshot().analyze(["secrets"], options={"secrets": {"unmasked": "1"}}, processes=0)
    assert report.analyzed == 2  # results made without the option do not answer for it
    assert report.analyzers == [secrets.key({"unmasked": "1"})]


def test_a_backups_workers_analyze_with_the_options_given(plugin: Path, src: Path, tmp_path: Path) -> None:
    from kloset.registry import analyzer_class

    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    options = {"secrets": {"unmasked": "1"}}
    snap = store.backup(str(src), analyze=["secrets"], analyzer_options=options, processes=2)
    assert [a["analyzers"] for a in snap.analyses()] == [[analyzer_class("secrets").key(options["secrets"])]]
    plugin.write_text("")
    report = snap.analyze(["secrets"], options=options, processes=0)
    assert (report.analyzed, fed(plugin)) == (0, [])


def test_the_messages_of_an_mbox_keep_their_order(tmp_path: Path) -> None:
    d = tmp_path / "mail"
    d.mkdir()
    (d / "inbox.mbox").write_text("".join(
        f"From sender{i}@example.com Mon Jan  1 10:00:00 2024\nFrom: sender{i}@example.com\nTo: me@example.org\n"
        f"Subject: message {i}\nMessage-ID: <m{i}@example.com>\n\nbody {i}\n\n" for i in range(12)))
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    e = store.backup(str(d), analyze=["email"]).emails()
    assert list(e["seq"]) == list(range(12))
    assert list(e["subject"]) == [f"message {i}" for i in range(12)]


def test_an_analyzer_missing_a_dependency_is_a_config_error(plugin: Path, src: Path, tmp_path: Path) -> None:
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    with pytest.raises(kloset.ConfigError, match="needs a_module_nobody_installed, which is not installed"):
        store.backup(str(src), analyze=["needy"])
    assert store.snapshots() == []
