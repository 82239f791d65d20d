"""The IMAP connector against real dovecot servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import datetime
import io
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.dovecot import DovecotServer, dovecot
from servers.mailboxes import MAIL, UTC, fill, mailbox_state

import kloset
from kloset.cli.main import main
from kloset.connectors.imap.exporter import IMAPExporter
from kloset.connectors.imap.importer import IMAPImporter
from kloset.errors import (
    AuthenticationError,
    ConfigError,
    KlosetError,
    NotFound,
    TransientError,
    UnsafePathError,
    Unsupported,
)
from kloset.importer import Importer, ImporterOptions
from kloset.objects import FileInfo, Record
from kloset.testing.exporter_suite import UNSAFE_PATHS
from kloset.testing.importer_suite import ImporterConformance


@pytest.fixture(scope="module")
def source() -> Iterator[DovecotServer]:
    with dovecot(implicit_tls=True) as server:
        fill(server)
        yield server


@pytest.fixture
def fresh() -> Iterator[DovecotServer]:
    with dovecot() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> kloset.Store:
    return kloset.create(str(tmp_path / "store"), plaintext=True)


def names(snap: kloset.Snapshot) -> set[str]:
    return set(snap.files(["path"])["path"])


# -- the round trip --------------------------------------------------------------------------------


def test_backup_then_restore_into_another_server_keeps_folders_messages_flags_and_dates(
        source: DovecotServer, fresh: DovecotServer, store: kloset.Store) -> None:
    before = mailbox_state(source)
    snap = kloset.backup(source.config(), store=store, progress=False)
    assert snap.summary.errors == 0 and snap.summary.files == sum(map(len, MAIL.values()))
    report = snap.restore(fresh.config())
    assert report.errors == []
    assert mailbox_state(fresh) == before
    assert {m for m, msgs in before.items() if msgs} == set(MAIL)
    assert mailbox_state(source) == before  # nothing was marked \Seen or changed by the backup


def test_messages_are_files_named_by_uid_flags_and_subject(source: DovecotServer, store: kloset.Store) -> None:
    snap = store.backup(source.config())
    paths = names(snap)
    assert {"/", "/INBOX", "/Archive", "/Archive/2024", "/Größe", "/Größe/Übersicht", "/日本", "/a.b"} <= paths
    assert "/INBOX/1,S-Hello.eml" in paths
    assert "/INBOX/2,AF+$Label1+project%2Dx%2E2024-Résumé plan.eml" in paths
    assert "/INBOX/3,DT.eml" in paths
    assert "/Archive/2024/1,S+Work-old.eml" in paths
    row = snap.stat("/INBOX/2,AF+$Label1+project%2Dx%2E2024-Résumé plan.eml")
    assert row["size"] == len(MAIL["INBOX"][1][0])
    assert stat.S_IMODE(row["mode"]) == 0o600
    assert row["mtime"] == int(MAIL["INBOX"][1][2].timestamp()) * 10**9
    assert snap.read_bytes("/日本/1,F-nihon.eml") == MAIL["日本"][0][0]
    assert snap.header.importer_type == "imap"
    assert snap.header.importer_origin == f"127.0.0.1:{source.port}"
    assert snap.header.importer_root == "/"


def test_a_mailbox_location_backs_up_that_mailbox_and_those_below_it(
        source: DovecotServer, store: kloset.Store) -> None:
    snap = store.backup(source.config("Größe"))
    assert names(snap) == {"/Größe", "/Größe/Übersicht", "/Größe/Übersicht/1-Größe.eml"}
    assert snap.header.importer_root == "/Größe"


def test_a_missing_mailbox_is_not_found(source: DovecotServer) -> None:
    with pytest.raises(NotFound, match="imap: no mailbox"):
        list(IMAPImporter(source.config("Nowhere")).scan())


def test_excluded_mailboxes_and_messages_are_skipped(source: DovecotServer) -> None:
    importer = IMAPImporter(source.config(), ImporterOptions(excludes=["Archive/", "*,S*.eml"]))
    paths = {r.pathname for r in importer.scan()}
    importer.close()
    assert not [p for p in paths if p.startswith("/Archive")]
    assert "/INBOX/1,S-Hello.eml" not in paths and "/INBOX/3,DT.eml" in paths


def test_a_second_backup_reads_no_unchanged_message(source: DovecotServer, store: kloset.Store) -> None:
    store.backup(source.config())
    snap = store.backup(source.config())
    assert snap.summary.reused_files == snap.summary.files


# -- restore ---------------------------------------------------------------------------------------


def test_restore_into_a_mailbox_location_nests_the_tree_below_it(
        source: DovecotServer, fresh: DovecotServer, store: kloset.Store) -> None:
    snap = store.backup(source.config("Größe"))
    assert snap.restore(fresh.config("Restored/Größe")).errors == []
    state = mailbox_state(fresh)
    assert [m[0] for m in state["Restored/Größe/Übersicht"]] == [MAIL["Größe/Übersicht"][0][0]]


def test_a_file_not_named_as_a_message_is_appended_with_its_time_and_no_flag(fresh: DovecotServer) -> None:
    exporter = IMAPExporter(fresh.config("Imported"))
    when = datetime.datetime(2015, 5, 5, 5, 5, 5, tzinfo=UTC)
    content = b"Subject: from a file\r\n\r\nhello\r\n"
    exporter.write_file("note.txt", FileInfo("note.txt", len(content), mtime_ns=int(when.timestamp()) * 10**9),
                        iter([content[:10], content[10:]]))
    exporter.close()
    assert mailbox_state(fresh)["Imported"] == [(content, frozenset(), when.timestamp())]


def test_restore_refuses_unsafe_paths_symlinks_and_messages_outside_a_mailbox(fresh: DovecotServer) -> None:
    exporter = IMAPExporter(fresh.config())
    info = FileInfo("x", 3)
    for path in UNSAFE_PATHS:
        with pytest.raises(UnsafePathError):
            exporter.mkdir(path, info)
        with pytest.raises(UnsafePathError):
            exporter.write_file(path, info, iter([b"x\r\n"]))
    with pytest.raises(Unsupported, match="symbolic link"):
        exporter.symlink("INBOX/l", "x", FileInfo("l", mode=stat.S_IFLNK | 0o777))
    with pytest.raises(Unsupported, match="needs a mailbox"):
        exporter.write_file("1.eml", info, iter([b"x\r\n"]))
    assert exporter.hardlink("INBOX/b", "INBOX/a") is False
    exporter.close()
    assert set(mailbox_state(fresh)) == {"INBOX"}


# -- connections -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", ["starttls", "tls", "no-tls"])
def test_each_tls_mode_reaches_the_server(source: DovecotServer, tls: str) -> None:
    importer = IMAPImporter(source.config(tls=tls))
    assert "/INBOX/1,S-Hello.eml" in {r.pathname for r in importer.scan()}
    importer.close()


def test_a_certificate_that_does_not_verify_is_an_authentication_error_naming_tls(source: DovecotServer) -> None:
    config = source.config()
    del config["tls_ca_file"]
    with pytest.raises(AuthenticationError, match=r"imap: .*TLS certificate verification failed"):
        IMAPImporter(config)
    with pytest.raises(AuthenticationError, match="TLS"):
        IMAPImporter({**config, "tls": "tls", "location": f"imap://127.0.0.1:{source.tls_port}"})
    IMAPImporter({**config, "tls_no_verify": "true"}).close()


def test_a_wrong_password_is_an_authentication_error(fresh: DovecotServer) -> None:
    # A server of its own: dovecot makes the next logins from the address of a failed one wait.
    with pytest.raises(AuthenticationError, match=r"imap: test at 127\.0\.0\.1"):
        IMAPImporter(fresh.config(password="wrong"))


def test_a_closed_port_is_a_transient_error_at_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        start = time.monotonic()
        with pytest.raises(TransientError, match=rf"imap: cannot connect to 127\.0\.0\.1:{port}"):
            IMAPImporter({"location": f"imap://127.0.0.1:{port}", "username": "u", "password": "p"})
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("config", [
    {"location": "imap://"},
    {"location": "imaps://127.0.0.1"},
    {"location": "imap://127.0.0.1", "username": "u", "tls": "ssl"},
    {"location": "imap://127.0.0.1"},
    {"location": "imap://127.0.0.1:99999", "username": "u"},
    {"location": "imap://127.0.0.1", "username": "u", "tls_ca_file": "/no/such/file"},
    {"location": "imap://127.0.0.1", "username": "u", "tls_no_verify": "maybe"},
])
def test_a_bad_config_is_a_config_error(config: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="imap: "):
        IMAPImporter(config)


def test_user_and_password_may_be_given_in_the_location(source: DovecotServer) -> None:
    config = source.config()
    config["location"] = f"imap://test:secret@127.0.0.1:{source.port}"
    del config["username"], config["password"]
    IMAPImporter(config).close()


# -- failures during a backup ----------------------------------------------------------------------


def test_a_server_stopped_mid_backup_fails_it_cleanly_and_the_next_run_succeeds(
        fresh: DovecotServer, store: kloset.Store) -> None:
    with fresh.client() as imap:
        imap.create_folder("Big")
        imap.multiappend("Big", [f"Subject: {i}\r\n\r\n{'x' * 200}\r\n".encode() for i in range(300)])
    stopped = []

    def stop_after_first_entry(files: int, size: int) -> None:
        if not stopped:
            stopped.append(files)
            fresh.stop()

    with pytest.raises(KlosetError, match="imap: ") as caught:
        store.backup(fresh.config(), progress=stop_after_first_entry)
    assert isinstance(caught.value, TransientError)
    assert store.snapshots() == []
    assert store.check().ok
    fresh.start()
    snap = store.backup(fresh.config())
    assert snap.summary.files == 300 and snap.summary.errors == 0
    assert store.check().ok


def test_a_message_expunged_between_listing_and_reading_is_an_error_of_the_snapshot(
        fresh: DovecotServer, store: kloset.Store) -> None:
    with fresh.client() as imap:
        for i in range(3):
            imap.append("INBOX", f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode())

    class ExpungingAfterScan(IMAPImporter):
        def scan(self) -> Iterator[Record]:
            records = list(super().scan())
            with fresh.client() as imap:
                imap.select_folder("INBOX")
                imap.delete_messages([2])
                imap.expunge()
            return iter(records)

    snap = store.backup(ExpungingAfterScan(fresh.config()))
    errors = snap.errors()
    assert list(errors["path"]) == ["/INBOX/2-m1.eml"]
    assert "no longer in mailbox 'INBOX'" in errors["error"][0]
    assert {"/INBOX/1-m0.eml", "/INBOX/3-m2.eml"} <= names(snap)


def test_content_is_read_from_several_threads_at_once(source: DovecotServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    importer = IMAPImporter(source.config())
    records = [r for r in importer.scan() if r.open is not None]

    def read(record: Record) -> bytes:
        assert record.open is not None
        with record.open() as f:
            return f.read()

    with ThreadPoolExecutor(4) as pool:
        contents = list(pool.map(read, records * 5))
    importer.close()
    assert sorted(set(contents)) == sorted(m[0] for msgs in MAIL.values() for m in msgs)


# -- the public API and the command line -----------------------------------------------------------


def test_the_command_line_backs_up_an_imap_account(
        source: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KLOSET_PASSPHRASE", "imap test passphrase")
    monkeypatch.setenv("SSL_CERT_FILE", source.ca_file)  # the default TLS context trusts the test CA
    location = f"imap://{source.user}:{source.password}@127.0.0.1:{source.port}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["at", str(tmp_path / "store"), "create"]) == 0
        assert main(["at", str(tmp_path / "store"), "backup", location]) == 0
    assert "created snapshot" in out.getvalue()
    snap = kloset.open(str(tmp_path / "store"), passphrase="imap test passphrase").snapshot()
    assert "/INBOX/1,S-Hello.eml" in names(snap)


# -- the importer conformance suite ----------------------------------------------------------------


class TestIMAPImporterConformance(ImporterConformance):
    """The suite's structural tests, run on the test account's mailboxes.

    An IMAP account cannot present the suite's tree: names are the server's UIDs and flags, content is
    an RFC 5322 message the server may rewrite (line ends, NUL bytes), and there are no symlinks. So
    the importer is pointed at the filled account, and the tests that compare against the tree's names
    are replaced by the ones above."""

    supports_symlinks = False
    supports_excludes = False  # excludes are tested on mailbox names above

    @pytest.fixture(autouse=True)
    def _server(self, source: DovecotServer) -> None:
        self.server = source

    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        return IMAPImporter(self.server.config(), options)

    def _not_a_tree(self, *args: Any) -> None:
        pytest.skip("an IMAP account cannot hold the suite's tree (see the class docstring)")

    test_every_entry_is_yielded_exactly_once = _not_a_tree
    test_entry_types_match_the_tree = _not_a_tree
    test_file_content_reads_back_through_open = _not_a_tree
    test_file_modification_times_are_reported = _not_a_tree
