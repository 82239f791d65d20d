"""The FTP connector against a real server (pyftpdlib on 127.0.0.1): plain FTP, explicit FTPS, and a
server without MLSD."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.ftp import FTPServer, ftp_server

import kloset
from kloset.cli.main import main
from kloset.connectors.ftp.exporter import FTPExporter
from kloset.connectors.ftp.importer import FTPImporter, RemoteFile
from kloset.connectors.ftp.session import native, wire
from kloset.errors import AuthenticationError, ConfigError, KlosetError, NotFound, TransientError, Unsupported
from kloset.exporter import Exporter
from kloset.importer import Importer, ImporterOptions
from kloset.objects import EntryType, FileInfo, Record, entry_type
from kloset.snapshot.workers import picklable
from kloset.testing.exporter_suite import MTIME_NS, ExporterConformance, file_info, link_info
from kloset.testing.importer_suite import SYMLINKS, TREE, ImporterConformance, build_tree


def remote(server: FTPServer, local: Path) -> str:
    """The server path of a folder below the server's root."""
    return "/" + local.relative_to(server.root).as_posix()


class Served:
    """Each test gets a server of its own serving its ``tmp_path``."""

    tls = False
    mlsd = True
    server: FTPServer

    @pytest.fixture(autouse=True)
    def _serve(self, tmp_path: Path) -> Iterator[None]:
        with ftp_server(tmp_path, tls=self.tls, mlsd=self.mlsd) as self.server:
            yield


class TestFTPImporterConformance(Served, ImporterConformance):
    # MLSD describes what a symlink points to (RFC 3659 follows links) and skips a dangling one: to a
    # client there are no links, so the tree served has none.
    supports_symlinks = False

    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        for rel in SYMLINKS:
            (tree / rel).unlink()
        return FTPImporter(self.server.config(remote(self.server, tree)), options)


class TestFTPSImporterConformance(TestFTPImporterConformance):
    tls = True


class TestFTPImporterListConformance(Served, ImporterConformance):
    """A server that refuses MLSD: the tree is read from LIST's ls -l lines (which show symlinks and
    their targets) and MDTM."""

    mlsd = False

    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        return FTPImporter(self.server.config(remote(self.server, tree)), options)


class TestFTPExporterConformance(Served, ExporterConformance):
    supports_symlinks = False
    supports_hardlinks = False
    supports_fifos = False
    supports_mtime = False  # pyftpdlib sets the times of files only (test_file_times_are_set_with_mfmt)

    def make_exporter(self, target: Path) -> Exporter:
        return FTPExporter(self.server.config(remote(self.server, target)))

    def local(self, exporter: Exporter, path: str) -> Path:
        return self.server.root / exporter.root.lstrip("/") / path

    def read_file(self, exporter: Exporter, path: str) -> bytes:
        return self.local(exporter, path).read_bytes()

    def entry_type(self, exporter: Exporter, path: str) -> EntryType | None:
        try:
            return entry_type(os.lstat(self.local(exporter, path)).st_mode)
        except FileNotFoundError:
            return None

    def mtime_ns(self, exporter: Exporter, path: str) -> int:
        return os.lstat(self.local(exporter, path)).st_mtime_ns


class TestFTPSExporterConformance(TestFTPExporterConformance):
    tls = True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FTPServer]:
    build_tree(tmp_path)
    with ftp_server(tmp_path) as s:
        yield s


def scan(importer: Importer) -> dict[str, Record]:
    try:
        return {r.pathname: r for r in importer.scan()}
    finally:
        importer.close()


def read(record: Record) -> bytes:
    assert record.open is not None
    with record.open() as f:
        return f.read()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_source_identity_is_host_port_and_path(server: FTPServer) -> None:
    importer = FTPImporter(server.config("/tree/"))
    assert (importer.type, importer.origin, importer.root) == ("ftp", f"127.0.0.1:{server.port}", "/tree")
    importer.close()


def test_wrong_password_is_an_authentication_error(server: FTPServer) -> None:
    with pytest.raises(AuthenticationError, match=r"^ftp: log in"):
        FTPImporter(server.config("/tree", password="wrong"))


def test_closed_port_is_a_transient_error_at_once() -> None:
    start = time.monotonic()
    with pytest.raises(TransientError, match=r"^ftp: connect to 127\.0\.0\.1"):
        FTPImporter({"location": f"ftp://127.0.0.1:{closed_port()}/"})
    assert time.monotonic() - start < 2


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections are accepted by the kernel, and no greeting ever comes
        start = time.monotonic()
        with pytest.raises(TransientError, match="timed out"):
            FTPImporter({"location": f"ftp://127.0.0.1:{silent.getsockname()[1]}/", "timeout": "0.5"})
    assert time.monotonic() - start < 3


def test_a_server_without_tls_asked_for_tls_is_an_authentication_error(server: FTPServer) -> None:
    with pytest.raises(AuthenticationError, match="TLS failed"):
        FTPImporter(server.config("/tree", tls="explicit"))


def test_a_certificate_that_does_not_verify_is_an_authentication_error(tmp_path: Path) -> None:
    with ftp_server(tmp_path, tls=True) as s, pytest.raises(AuthenticationError, match="certificate does not verify"):
        FTPExporter(s.config("/", tls_no_verify="false"))


def test_a_trusted_certificate_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ftp_server(tmp_path, tls=True) as s:
        monkeypatch.setenv("SSL_CERT_FILE", str(s.certfile))  # OpenSSL's default trust, read per context
        exporter = FTPExporter(s.config("/out", tls_no_verify="false"))
        exporter.write_file("f", file_info("f"), iter([b"private"]))
        exporter.close()
    assert (tmp_path / "out" / "f").read_bytes() == b"private"


def test_a_missing_root_is_not_found(server: FTPServer) -> None:
    with pytest.raises(NotFound, match=r"^ftp: "):
        FTPImporter(server.config("/no/such/folder"))


@pytest.mark.parametrize("config", [
    {"location": "sftp://127.0.0.1/x"},
    {"location": "ftp:///x"},
    {"location": "ftp://u:secret@127.0.0.1/x"},
    {"location": "ftp://127.0.0.1:99999/x"},
    {"location": "ftp://127.0.0.1/a/../b"},
    {"location": "ftp://127.0.0.1/x", "tls": "implicit"},
    {"location": "ftp://127.0.0.1/x", "timeout": "soon"},
    {"location": "ftp://127.0.0.1/x", "passive": "maybe"},
    {"location": "ftp://alice@127.0.0.1/x", "username": "bob"},
])
def test_bad_configs_are_config_errors(config: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"^ftp: "):
        FTPImporter(config)


def test_utf8_names_round_trip(tmp_path: Path) -> None:
    (tmp_path / "café").mkdir()
    (tmp_path / "café" / "日本 語.txt").write_bytes(b"nihongo")
    with ftp_server(tmp_path) as s:
        records = scan(FTPImporter(s.config("/café")))
        assert read(records["/café/日本 語.txt"]) == b"nihongo"
        exporter = FTPExporter(s.config("/dés"))
        exporter.write_file("ü.txt", file_info("ü.txt"), iter([b"umlaut"]))
        exporter.close()
    assert (tmp_path / "dés" / "ü.txt").read_bytes() == b"umlaut"


def test_names_that_are_not_utf8_keep_their_bytes_on_the_wire() -> None:
    name = os.fsdecode(b"caf\xe9")
    assert wire(name).encode("latin-1") == b"caf\xe9"
    assert native(wire(name)) == name


def test_active_mode_transfers_content(server: FTPServer) -> None:
    records = scan(FTPImporter(server.config("/tree", passive="false")))
    assert read(records["/tree/big.bin"]) == TREE["big.bin"]


def test_an_idle_connection_closed_by_the_server_is_reopened(tmp_path: Path) -> None:
    build_tree(tmp_path)
    with ftp_server(tmp_path, idle_timeout=0.3) as s:
        importer = FTPImporter(s.config("/tree"))
        records = {r.pathname: r for r in importer.scan()}
        time.sleep(0.8)  # the server says 421 and hangs up on the pooled connection
        assert read(records["/tree/a.txt"]) == TREE["a.txt"]
        importer.close()


def test_files_are_read_from_several_threads_at_once(server: FTPServer) -> None:
    importer = FTPImporter(server.config("/tree"))
    records = [r for r in importer.scan() if r.open is not None]
    results: dict[str, bytes] = {}

    def worker(record: Record) -> None:
        results[record.pathname] = read(record)

    threads = [threading.Thread(target=worker, args=(r,)) for r in records * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    importer.close()
    assert results == {r.pathname: (server.root / r.pathname.lstrip("/")).read_bytes() for r in records}


def test_a_file_closed_before_its_end_leaves_the_session_usable(server: FTPServer) -> None:
    importer = FTPImporter(server.config("/tree"))
    records = {r.pathname: r for r in importer.scan()}
    assert records["/tree/big.bin"].open is not None
    with records["/tree/big.bin"].open() as f:
        assert f.read(10) == (server.root / "tree" / "big.bin").read_bytes()[:10]
    assert read(records["/tree/dir.x"]) == TREE["dir.x"]
    importer.close()


def test_content_is_read_in_this_process(server: FTPServer) -> None:
    # Openers hold the importer's connections, so they cannot travel to the backup's worker processes:
    # a server failing mid-backup then stops it with the typed error rather than a dead worker.
    records = scan(FTPImporter(server.config("/tree")))
    assert picklable(records["/tree/a.txt"].open) is False


def test_a_file_removed_before_reading_is_an_os_error(server: FTPServer) -> None:
    records = scan(FTPImporter(server.config("/tree")))
    (server.root / "tree" / "a.txt").unlink()
    with pytest.raises(FileNotFoundError, match="vanished"):
        read(records["/tree/a.txt"])


def test_file_times_and_permissions_are_set(tmp_path: Path) -> None:
    with ftp_server(tmp_path) as s:
        exporter = FTPExporter(s.config("/out"))
        info = FileInfo(name="f", mode=stat.S_IFREG | 0o640, mtime_ns=MTIME_NS)
        exporter.write_file("f", info, iter([b"x"]))
        exporter.set_attributes("f", info, {})
        exporter.close()
    st = os.stat(tmp_path / "out" / "f")
    assert (st.st_mtime_ns, stat.S_IMODE(st.st_mode)) == (MTIME_NS, 0o640)


def test_symlinks_are_unsupported(tmp_path: Path) -> None:
    with ftp_server(tmp_path) as s:
        exporter = FTPExporter(s.config("/out"))
        with pytest.raises(Unsupported, match=r"^ftp: "):
            exporter.symlink("l", "target", link_info("l"))
        assert exporter.hardlink("h", "l") is False
        exporter.close()


def test_upload_streams_pieces_as_they_come(tmp_path: Path) -> None:
    piece = os.urandom(1 << 20)
    seen: list[int] = []

    def pieces() -> Iterator[bytes]:
        yield piece
        # The first piece reaches the server before the second is even made.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sizes = [p.stat().st_size for p in (tmp_path / "out").glob(".kloset-*.tmp")]
            if sizes and sizes[0] > 0:
                seen.append(sizes[0])
                break
            time.sleep(0.01)
        yield piece

    with ftp_server(tmp_path) as s:
        exporter = FTPExporter(s.config("/out"))
        exporter.write_file("f", file_info("f"), pieces())
        exporter.close()
    assert seen and 0 < seen[0] <= len(piece)
    assert (tmp_path / "out" / "f").read_bytes() == piece * 2


def test_an_interrupted_upload_leaves_nothing_behind(tmp_path: Path) -> None:
    def failing() -> Iterator[bytes]:
        yield b"partial"
        raise KlosetError("content is corrupt")

    with ftp_server(tmp_path) as s:
        exporter = FTPExporter(s.config("/out"))
        with pytest.raises(KlosetError, match="corrupt"):
            exporter.write_file("f", file_info("f"), failing())
        exporter.close()
    assert list((tmp_path / "out").iterdir()) == []


def test_files_of_missing_folders_are_written(tmp_path: Path) -> None:
    with ftp_server(tmp_path) as s:
        exporter = FTPExporter(s.config("/out"))
        exporter.write_file("a/b/c", file_info("c"), iter([b"deep"]))
        exporter.close()
    assert (tmp_path / "out" / "a" / "b" / "c").read_bytes() == b"deep"


def test_backup_from_ftp_and_restore_to_ftp_through_the_api(tmp_path: Path) -> None:
    tree = build_tree(tmp_path)
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    with ftp_server(tmp_path) as s:
        snap = kloset.backup(s.config("/tree"), store=store, progress=False)
        report = snap.restore(s.config("/restored"))
    assert report.errors == []
    assert snap.header.importer_type == "ftp"
    for rel, content in TREE.items():
        restored = tmp_path / "restored" / rel
        if content is None:
            assert restored.is_dir(), rel
        else:
            assert restored.read_bytes() == content, rel
            assert restored.stat().st_mtime_ns == (tree / rel).stat().st_mtime_ns, rel


def test_server_stopped_mid_backup_fails_cleanly_and_the_next_run_succeeds(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(40):
        (source / f"f{i:02}.bin").write_bytes(os.urandom(64 * 1024))
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    with ftp_server(tmp_path, stop_after_files=3) as s:
        start = time.monotonic()
        with pytest.raises(TransientError, match=r"^ftp: "):
            store.backup(s.config("/src"))
        assert time.monotonic() - start < 10
    assert store.snapshots() == []
    assert store.check().ok
    with ftp_server(tmp_path) as s:
        snap = store.backup(s.config("/src"))
    assert snap.errors().empty
    assert len(snap.files()) == 41
    assert store.check().ok


def test_an_unchanged_tree_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = build_tree(tmp_path)
    for rel in SYMLINKS:
        (tree / rel).unlink()  # MLSD shows a link as its target: it would change with a.txt
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    reads: list[str] = []
    begin = RemoteFile._begin

    def counted(self: RemoteFile) -> tuple[object, object]:
        reads.append(self._path)
        return begin(self)

    monkeypatch.setattr(RemoteFile, "_begin", counted)
    with ftp_server(tmp_path) as s:
        store.backup(s.config("/tree"))
        first = len(reads)
        (tmp_path / "tree" / "a.txt").write_bytes(b"changed\n")
        second = store.backup(s.config("/tree"))
    assert first > 1 and reads[first:] == ["/tree/a.txt"]
    assert second.open("/tree/a.txt").read() == b"changed\n"


class Vanishing(FTPImporter):
    """Deletes ``gone.txt`` from the served folder as soon as it has been listed."""

    folder: Path

    def scan(self) -> Iterator[Record]:
        for record in super().scan():
            if record.pathname.endswith("/gone.txt"):
                (self.folder / "gone.txt").unlink()
            yield record


def test_a_file_removed_between_listing_and_reading_is_an_error_in_the_snapshot(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "gone.txt").write_bytes(b"soon gone")
    (source / "kept.txt").write_bytes(b"still here")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    with ftp_server(tmp_path) as s:
        importer = Vanishing(s.config("/src"))
        importer.folder = source
        snap = store.backup(importer)
    errors = snap.errors()
    assert list(errors["path"]) == ["/src/gone.txt"]
    assert "vanished" in errors["error"][0]
    assert snap.open("/src/kept.txt").read() == b"still here"


def test_backup_from_anonymous_ftp_through_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never the real home: caches, the default store and passphrases all come from here.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("KLOSET_PASSPHRASE", "correct horse battery staple")
    monkeypatch.delenv("KLOSET_REPOSITORY", raising=False)
    monkeypatch.delenv("KLOSET_PASSPHRASE_CMD", raising=False)
    build_tree(tmp_path)
    store = str(tmp_path / "store")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["at", store, "create"]) == 0
        with ftp_server(tmp_path, anonymous=True) as s:
            assert main(["at", store, "backup", "-q", f"ftp://127.0.0.1:{s.port}/tree"]) == 0
        assert main(["at", store, "restore", "-q", "--to", str(tmp_path / "restored"), "latest"]) == 0
    for rel, content in TREE.items():
        if content is not None:
            assert (tmp_path / "restored" / rel).read_bytes() == content, rel
