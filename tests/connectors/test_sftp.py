"""The sftp store, importer and exporter against a real OpenSSH sshd on 127.0.0.1 (and, for password
logins, asyncssh's in-process server)."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.ssh_password import DROP, password_sftp
from servers.sshd import SSHServer, free_port, make_key, sshd, write_known_hosts

from kloset.connectors.sftp.exporter import SFTPExporter
from kloset.connectors.sftp.importer import SFTPImporter
from kloset.connectors.sftp.location import Target, parse_location
from kloset.connectors.sftp.store import SFTPStore
from kloset.errors import AuthenticationError, ConfigError, TransientError, UnsafePathError
from kloset.exporter import Exporter
from kloset.importer import Importer, ImporterOptions
from kloset.objects import FileInfo, ResourceType
from kloset.storage import Storage
from kloset.testing.exporter_suite import ExporterConformance
from kloset.testing.importer_suite import ImporterConformance
from kloset.testing.storage_suite import CONFIG, StorageConformance, resource_id


@pytest.fixture(scope="module")
def server() -> Iterator[SSHServer]:
    with sshd() as s:
        yield s


class _OnServer:
    @pytest.fixture(autouse=True)
    def _server(self, server: SSHServer) -> None:
        self.server = server


class TestSFTPStoreConformance(_OnServer, StorageConformance):
    def make_store(self, tmp_path: Path) -> Storage:
        return SFTPStore(self.server.config(str(tmp_path / "store")))


class TestSFTPImporterConformance(_OnServer, ImporterConformance):
    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        return SFTPImporter(self.server.config(str(tree)), options)


class TestSFTPExporterConformance(_OnServer, ExporterConformance):
    supports_fifos = False

    def make_exporter(self, target: Path) -> Exporter:
        return SFTPExporter(self.server.config(str(target)))


def test_key_login_reaches_the_served_folder(server: SSHServer) -> None:
    Path(server.root, "hello.txt").write_bytes(b"hi")
    importer = SFTPImporter(server.config(""))
    try:
        assert importer.root == server.root
        assert {r.pathname for r in importer.scan()} >= {f"{server.root}/hello.txt"}
    finally:
        importer.close()


def test_tilde_location_is_relative_to_the_start_directory(server: SSHServer) -> None:
    Path(server.root, "start").mkdir(exist_ok=True)
    config = {**server.config(), "location": f"sftp://root@{server.host}:{server.port}/~/start"}
    importer = SFTPImporter(config)
    try:
        assert importer.root == f"{server.root}/start"  # sshd runs internal-sftp -d ROOT
    finally:
        importer.close()


# -- password logins (asyncssh's in-process server, chrooted to its folder) --------------------------


@pytest.fixture(scope="module")
def password_server() -> Iterator[SSHServer]:
    with password_sftp() as s:
        yield s


def test_password_login_stores_and_reads_back(password_server: SSHServer) -> None:
    store = SFTPStore(password_server.config("pw-store"))
    store.create(CONFIG)
    store.put(ResourceType.PACKFILE, resource_id(1), b"packed")
    assert SFTPStore(password_server.config("pw-store")).get(ResourceType.PACKFILE, resource_id(1)) == b"packed"
    assert Path(password_server.root, "pw-store", "packfiles").is_dir()  # "/" is the served folder
    store.close()


def test_wrong_password_is_an_authentication_error(password_server: SSHServer) -> None:
    with pytest.raises(AuthenticationError, match=r"sftp: .*authentication failed"):
        SFTPStore({**password_server.config("x"), "password": "wrong"}).open()


def test_a_connection_dropped_while_authenticating_is_transient_not_a_refusal(password_server: SSHServer) -> None:
    with pytest.raises(TransientError, match="dropped while authenticating"):
        SFTPStore({**password_server.config("x"), "password": DROP, "retries": "0"}).open()


# -- bad credentials, host keys, unreachable servers -------------------------------------------------


def test_wrong_key_is_an_authentication_error(server: SSHServer, tmp_path: Path) -> None:
    make_key(str(tmp_path / "other_key"))
    with pytest.raises(AuthenticationError, match=r"sftp: .*authentication failed"):
        SFTPStore({**server.config("x"), "identity": str(tmp_path / "other_key")}).open()


def test_unknown_host_key_is_an_authentication_error(server: SSHServer, tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text("")
    with pytest.raises(AuthenticationError, match="host key is unknown"):
        SFTPStore({**server.config("x"), "known_hosts": str(tmp_path / "known_hosts")}).open()


def test_mismatching_host_key_is_an_authentication_error(server: SSHServer, tmp_path: Path) -> None:
    write_known_hosts(str(tmp_path / "known_hosts"), server.port, make_key(str(tmp_path / "impostor")))
    with pytest.raises(AuthenticationError, match="host key verification failed"):
        SFTPStore({**server.config("x"), "known_hosts": str(tmp_path / "known_hosts")}).open()


def test_host_key_check_can_be_turned_off_explicitly(server: SSHServer, tmp_path: Path) -> None:
    write_known_hosts(str(tmp_path / "known_hosts"), server.port, make_key(str(tmp_path / "impostor")))
    config = {**server.config(str(tmp_path / "store")), "known_hosts": str(tmp_path / "known_hosts"),
              "insecure_ignore_host_key": "true"}
    SFTPStore(config).create(CONFIG)
    assert SFTPStore(config).open() == CONFIG


def test_closed_port_is_a_transient_error_at_once(tmp_path: Path) -> None:
    config = {"location": f"sftp://root@127.0.0.1:{free_port()}/x", "insecure_ignore_host_key": "true"}
    started = time.monotonic()
    with pytest.raises(TransientError, match="sftp: "):
        SFTPStore(config).open()
    assert time.monotonic() - started < 5


def test_silent_server_times_out_instead_of_hanging(tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections and never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        config = {"location": f"sftp://root@127.0.0.1:{port}/x", "insecure_ignore_host_key": "true",
                  "timeout": "1"}
        started = time.monotonic()
        with pytest.raises(TransientError, match="sftp: "):
            SFTPStore(config).open()
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("config", [
    {"location": "sftp:///no-host"},
    {"location": "sftp://h:notaport/x"},
    {"location": "sftp://alice@h/x", "username": "bob"},
    {"location": "sftp://h:22/x", "port": "2222"},
    {"location": "sftp://h/x", "identity": "/no/such/key"},
    {"location": "sftp://h/x", "known_hosts": "/no/such/known_hosts"},
    {"location": "sftp://h/x", "timeout": "soon"},
])
def test_bad_config_is_a_config_error(config: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="sftp: "):
        SFTPStore(config)


def test_location_paths_absolute_and_relative() -> None:
    assert parse_location({"location": "sftp://a@h:2/srv/x/"}) == Target("h", 2, "a", "/srv/x")
    assert parse_location({"location": "sftp://h/~/x", "username": "a"}).path == "x"
    assert parse_location({"location": "sftp://h", "port": "2"}) == Target("h", 2, getpass.getuser(), "")
    assert parse_location({"location": "sftp://h/"}).path == "/"


# -- what the store does beyond the suite -------------------------------------------------------------


def test_temporary_files_of_a_killed_writer_are_never_listed(server: SSHServer, tmp_path: Path) -> None:
    store = SFTPStore(server.config(str(tmp_path / "store")))
    store.create(CONFIG)
    rid = resource_id(1)
    store.put(ResourceType.PACKFILE, rid, b"whole")
    store.put(ResourceType.LOCK, rid, b"lock")
    bucket = tmp_path / "store" / "packfiles" / rid.hex()[:2]
    (bucket / f".tmp-{resource_id(2).hex()}-0123456789abcdef").write_bytes(b"half")
    (tmp_path / "store" / "locks" / f".tmp-{resource_id(3).hex()}-0123456789abcdef").write_bytes(b"")
    assert store.list(ResourceType.PACKFILE) == [rid]
    assert store.list(ResourceType.LOCK) == [rid]


def test_connection_dropped_between_calls_is_replaced(server: SSHServer, tmp_path: Path) -> None:
    store = SFTPStore(server.config(str(tmp_path / "store")))
    store.create(CONFIG)
    server.signal_sessions(signal.SIGKILL)
    time.sleep(0.05)
    assert store.open() == CONFIG
    store.put(ResourceType.STATE, resource_id(1), b"after")
    assert store.get(ResourceType.STATE, resource_id(1)) == b"after"


def test_server_that_stops_answering_mid_session_times_out(server: SSHServer, tmp_path: Path) -> None:
    store = SFTPStore({**server.config(str(tmp_path / "store")), "timeout": "1"})
    store.create(CONFIG)
    server.signal_sessions(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TransientError, match="sftp: "):
            store.get(ResourceType.STATE, resource_id(1))
        assert time.monotonic() - started < 5
    finally:
        server.signal_sessions(signal.SIGCONT)
    store.close()


def test_store_is_reachable_from_a_forked_process(server: SSHServer, tmp_path: Path) -> None:
    store = SFTPStore(server.config(str(tmp_path / "store")))
    store.create(CONFIG)
    pid = os.fork()
    if pid == 0:  # the child uses a connection of its own, never the parent's
        code = 0 if store.open() == CONFIG else 1
        os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    assert store.open() == CONFIG


def test_restore_as_root_gives_files_their_owner_and_mode(server: SSHServer, tmp_path: Path) -> None:
    exporter = SFTPExporter(server.config(str(tmp_path / "target")))
    info = FileInfo("f", size=1, mode=stat.S_IFREG | 0o4751, mtime_ns=1_500_000_000 * 10**9, uid=1234, gid=4321)
    exporter.write_file("f", info, iter([b"x"]))
    exporter.set_attributes("f", info, {})
    st = os.stat(tmp_path / "target" / "f")
    assert (st.st_uid, st.st_gid) == (1234, 4321)  # the login is root
    assert stat.S_IMODE(st.st_mode) == 0o4751  # set after chown, which clears setuid
    assert st.st_mtime == 1_500_000_000


def test_directory_with_a_name_that_is_not_utf8_is_recorded_as_an_error(server: SSHServer, tmp_path: Path) -> None:
    (tmp_path / "tree" / "odd").mkdir(parents=True)
    (tmp_path / "tree" / "fine.txt").write_bytes(b"fine")
    os.close(os.open(os.fsencode(tmp_path / "tree" / "odd") + b"/caf\xe9", os.O_CREAT | os.O_WRONLY))
    importer = SFTPImporter(server.config(str(tmp_path / "tree")))
    records = {r.pathname.rpartition("/")[2]: r for r in importer.scan()}
    importer.close()
    assert records["odd"].error is not None and "UTF-8" in records["odd"].error
    assert records["fine.txt"].error is None


def test_chrooted_password_server_round_trips_a_tree(password_server: SSHServer) -> None:
    tree = Path(password_server.root, "tree")
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f.txt").write_bytes(b"inside the chroot")
    # The server shows link targets inside its chroot (a relative one it does not read at all).
    (tree / "link").symlink_to(tree / "sub" / "f.txt")
    importer = SFTPImporter(password_server.config("tree"))
    records = {r.pathname: r for r in importer.scan()}
    assert importer.root == "/tree" and set(records) == {"/tree", "/tree/sub", "/tree/sub/f.txt", "/tree/link"}
    assert records["/tree/link"].target == "/tree/sub/f.txt"
    opener = records["/tree/sub/f.txt"].open
    assert opener is not None
    with opener() as f:
        assert f.read() == b"inside the chroot"
    importer.close()
    exporter = SFTPExporter(password_server.config("restored"))
    exporter.mkdir("sub", FileInfo("sub", mode=stat.S_IFDIR | 0o755))
    exporter.write_file("sub/f.txt", FileInfo("f.txt", size=5), iter([b"again"]))
    with pytest.raises(UnsafePathError):
        exporter.write_file("../escape", FileInfo("escape"), iter([b"x"]))
    exporter.close()
    assert Path(password_server.root, "restored", "sub", "f.txt").read_bytes() == b"again"


def test_hardlink_is_a_second_name_of_the_same_file(server: SSHServer, tmp_path: Path) -> None:
    exporter = SFTPExporter(server.config(str(tmp_path / "target")))
    exporter.write_file("a", FileInfo("a", size=6), iter([b"shared"]))
    assert exporter.hardlink("b", "a") is True
    assert os.stat(tmp_path / "target" / "a").st_ino == os.stat(tmp_path / "target" / "b").st_ino


def test_a_dropped_connection_in_paramikos_read_ahead_thread_reaches_no_exception_hook(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from kloset.connectors.sftp import session

    seen: list[str] = []
    monkeypatch.setattr(threading, "excepthook",
                        session._quiet_prefetch_deaths(lambda args: seen.append(str(args.exc_value))))

    def _prefetch_thread() -> None:  # the name of paramiko's read-ahead thread function
        raise EOFError("connection dropped")

    def other_work() -> None:
        raise EOFError("not paramiko's")

    for target in (_prefetch_thread, other_work):
        t = threading.Thread(target=target)
        t.start()
        t.join()
    assert seen == ["not paramiko's"]
