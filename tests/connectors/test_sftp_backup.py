"""Backups and restores through the public API and the command line with SFTP at either end, against a
real OpenSSH sshd on 127.0.0.1, and what a backup does when the server dies under it."""

from __future__ import annotations

import contextlib
import io
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.sshd import SSHServer, sshd

import kloset
from kloset.cli.main import main
from kloset.connectors.sftp.importer import SFTPImporter
from kloset.errors import TransientError

CONTENT = {
    "a.txt": b"alpha\n",
    "docs/b.txt": b"bravo\n" * 1000,
    "docs/deeper/c.bin": random.Random(3).randbytes(2 * 2**20 + 5),
    "empty": b"",
}


@pytest.fixture(scope="module")
def server() -> Iterator[SSHServer]:
    with sshd() as s:
        yield s


def make_tree(base: Path) -> Path:
    for rel, data in CONTENT.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    (base / "link").symlink_to("a.txt")
    os.chmod(base / "a.txt", 0o640)
    return base


def assert_same_tree(restored: Path) -> None:
    for rel, data in CONTENT.items():
        assert (restored / rel).read_bytes() == data, rel
    assert os.readlink(restored / "link") == "a.txt"
    assert (restored / "a.txt").stat().st_mode & 0o777 == 0o640


def test_backup_into_an_sftp_store_restores_byte_for_byte(server: SSHServer, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    store = kloset.create(server.config(str(tmp_path / "store")), plaintext=True)
    snap = kloset.backup(str(source), store=store, progress=False)
    snap.restore(tmp_path / "restored")
    assert_same_tree(tmp_path / "restored")
    store.close()
    again = kloset.open(server.config(str(tmp_path / "store")))
    assert again.check().ok
    again.close()


def test_backup_from_an_sftp_source_restores_byte_for_byte(server: SSHServer, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "remote")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(server.config(str(source)))
    assert snap.header.importer_type == "sftp" and snap.header.importer_origin == f"{server.host}:{server.port}"
    snap.restore(tmp_path / "restored")
    assert_same_tree(tmp_path / "restored")
    # Restored onto the server too, through the SFTP destination.
    snap.restore(server.config(str(tmp_path / "remote-restored")))
    assert_same_tree(tmp_path / "remote-restored")
    store.close()


def test_file_removed_between_listing_and_reading_is_recorded(server: SSHServer, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "remote")
    importer = SFTPImporter(server.config(str(source)))
    scan = importer.scan

    def removing_after_listing() -> Iterator[kloset.Record]:
        for record in scan():
            if record.pathname.endswith("/docs/b.txt"):
                (source / "docs" / "b.txt").unlink()  # listed, not yet read
            yield record

    importer.scan = removing_after_listing  # type: ignore[method-assign]
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(importer)
    errors = snap.errors()
    assert list(errors["path"]) == [f"{source}/docs/b.txt"]
    assert snap.read_bytes(f"{source}/a.txt") == b"alpha\n"
    store.close()


@pytest.mark.slow
def test_server_killed_mid_backup_fails_cleanly_and_the_next_backup_works(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for n in range(3):
        (source / f"f{n}.bin").write_bytes(random.Random(n).randbytes(2 * 2**20))
    served = tmp_path / "served"
    with sshd(str(served)) as first:
        location = str(served / "store")
        # Retried once, after a short wait, rather than for up to 30 s: the server is not coming back.
        retry_once = {"retries": "1", "retry_wait": "0.05"}
        kloset.create(first.config(location), plaintext=True).close()
        packfiles = served / "store" / "packfiles"
        stop = threading.Event()

        def kill_while_a_pack_is_written() -> None:
            while not stop.is_set():
                if os.listdir(packfiles):  # the first pack's bucket: its upload has begun
                    first.kill()
                    return
                time.sleep(0.001)

        killer = threading.Thread(target=kill_while_a_pack_is_written)
        killer.start()
        try:
            with pytest.raises(TransientError, match="sftp: ") as failure:
                kloset.backup(str(source), store={**first.config(location), **retry_once}, progress=False)
        finally:
            stop.set()
            killer.join()
        assert "connect" in str(failure.value) or "dropped" in str(failure.value)

    with sshd(str(served)) as second:
        store = kloset.open(second.config(location))
        assert store.snapshots() == []
        assert store.check().ok
        snap = store.backup(str(source))
        assert snap.read_bytes(f"{source}/f2.bin") == (source / "f2.bin").read_bytes()
        assert store.check().ok
        store.close()


def test_command_line_backs_up_into_an_sftp_store_and_restores(
        server: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Until named entries carry keys, the command line reaches a server the way ssh would: the key
    # and known_hosts under ~/.ssh.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_bytes(Path(server.identity).read_bytes())
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    (home / ".ssh" / "known_hosts").write_bytes(Path(server.known_hosts).read_bytes())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KLOSET_PASSPHRASE", "a passphrase for the command line")
    source = make_tree(tmp_path / "src")
    location = server.location(str(tmp_path / "store"))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["at", location, "create"]) == 0
        assert main(["at", location, "backup", str(source)]) == 0
        assert main(["at", location, "restore", "--to", str(tmp_path / "restored"), "latest"]) == 0
        assert main(["at", location, "check"]) == 0
    assert_same_tree(tmp_path / "restored")
