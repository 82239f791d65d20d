"""S3 under failure (wrong keys, a closed port, TLS, a server that stops, objects that vanish) and end
to end through the public API, against moto's server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.s3 import MotoServer, free_port, moto_server

import kloset
from kloset.connectors.fs.importer import FSImporter
from kloset.connectors.s3.importer import S3Importer
from kloset.connectors.s3.store import S3Store
from kloset.errors import AuthenticationError, ConfigError, KlosetError, TransientError
from kloset.objects import Record, ResourceType
from kloset.testing.storage_suite import CONFIG


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as s:
        yield s


def bucket_of(path: Path) -> str:
    return "f" + hashlib.sha256(str(path).encode()).hexdigest()[:24]


def make_tree(root: Path) -> dict[str, bytes]:
    """A small tree on disk; returns relative path -> content."""
    rng = random.Random(11)
    files = {"a.txt": b"alpha\n", "empty": b"", "docs/b.txt": b"bravo\n" * 100,
             "docs/deep/c.bin": rng.randbytes(700_000), "z.bin": rng.randbytes(2_000_000)}
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- credentials, ports, TLS -----------------------------------------------------------------------


def test_wrong_credentials_are_an_authentication_error(tmp_path: Path) -> None:
    with moto_server(auth=True) as server:
        # At the bucket's root: moto's signature check miscomputes requests whose query holds a "/"
        # (a listing with Prefix="p/"), which real S3 and MinIO accept.
        good = server.config(bucket_of(tmp_path))
        S3Store(good).create(CONFIG)  # the key moto made is accepted
        assert S3Store(good).open() == CONFIG
        for key, value in (("secret_access_key", "not the secret"), ("access_key", "AKIAUNKNOWNKEY000000")):
            with pytest.raises(AuthenticationError, match=r"^s3: .*refused the credentials"):
                S3Store({**good, key: value}).open()


def test_a_closed_port_is_a_transient_error_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"^s3: "):
        S3Store({"location": f"s3://127.0.0.1:{free_port()}/bucket", "use_tls": "false", "access_key": "AKIA",
                 "secret_access_key": "secret"}).open()
    assert time.monotonic() - started < 3


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # what tls_no_verify asks for
def test_an_untrusted_certificate_is_an_authentication_error(tmp_path: Path) -> None:
    with moto_server(tls=True) as server:
        config = server.config(bucket_of(tmp_path))
        with pytest.raises(AuthenticationError, match=r"^s3: .*TLS verification"):
            S3Store(config).create(CONFIG)
        S3Store({**config, "tls_no_verify": "true"}).create(CONFIG)
        assert S3Store({**config, "tls_no_verify": "true"}).open() == CONFIG


def test_plain_http_needs_use_tls_false(server: MotoServer, tmp_path: Path) -> None:
    config = {**server.config(bucket_of(tmp_path)), "use_tls": "true"}
    with pytest.raises(ConfigError, match=r"^s3: .*use_tls=false"):
        S3Store(config).open()


# -- a server that stops, an object that vanishes --------------------------------------------------


class _StoppingImporter(FSImporter):
    """A local source whose reading of one file stops the S3 server first."""

    def __init__(self, root: Path, trigger: str, server: MotoServer) -> None:
        super().__init__({"location": str(root)})
        self._trigger, self._server = f"{root}/{trigger}", server

    def scan(self) -> Iterator[Record]:
        for record in super().scan():
            if record.pathname == self._trigger and record.open is not None:
                record.open = self._stopping(record.open)
            yield record

    def _stopping(self, opener: object) -> object:
        def stop_then_open() -> object:
            self._server.stop()
            return opener()  # type: ignore[operator]

        return stop_then_open


@pytest.mark.slow
def test_a_server_stopped_mid_backup_fails_it_cleanly(tmp_path: Path) -> None:
    source = tmp_path / "source"
    files = make_tree(source)
    with moto_server() as server:
        # Without the engine's own retries, which would keep trying a dead server for a minute.
        config = {**server.config(bucket_of(tmp_path), "store"), "retries": "0"}
        store = kloset.create(config, plaintext=True)
        first = store.backup(str(source))
        (source / "new.txt").write_bytes(b"written after the first backup\n")
        started = time.monotonic()
        with pytest.raises(KlosetError, match="s3: ") as caught:
            store.backup(_StoppingImporter(source, "new.txt", server))
        elapsed = time.monotonic() - started
        assert isinstance(caught.value, TransientError), repr(caught.value)
        assert elapsed < 10
        server.start()  # the same port and, moto's state being process-wide, the same objects
        again = kloset.open(config)
        assert [s.id for s in again.snapshots()] == [first.id]  # nothing of the failed run was committed
        assert again.check().ok
        second = again.backup(str(source))
        second.restore(tmp_path / "restored")
        assert read_tree(tmp_path / "restored") == {**files, "new.txt": b"written after the first backup\n"}


class _DeletingImporter(S3Importer):
    """Deletes one object once the listing is done, before any content is read."""

    victim = ""

    def scan(self) -> Iterator[Record]:
        records = list(super().scan())
        self._client.delete_object(Bucket=self.where.bucket, Key=self.victim)
        yield from records


def test_an_object_deleted_between_listing_and_reading_is_a_file_error(server: MotoServer,
                                                                       tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    s3 = server.client()
    s3.create_bucket(Bucket=bucket)
    for key in ("src/keep.txt", "src/gone.txt", "src/sub/also.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    importer = _DeletingImporter(server.config(bucket, "src"))
    importer.victim = "src/gone.txt"
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(importer)
    errors = snap.errors()
    assert list(errors["path"]) == ["/src/gone.txt"]
    assert "vanished" in errors["error"][0]
    assert snap.read_bytes("/src/keep.txt") == b"src/keep.txt"


# -- end to end ------------------------------------------------------------------------------------


def test_a_tree_backed_up_into_s3_restores_byte_for_byte(server: MotoServer, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "source")
    config = server.config(bucket_of(tmp_path), "backups")
    kloset.create(config, plaintext=True).close()
    snap = kloset.backup(str(tmp_path / "source"), store=config, progress=False)
    report = snap.restore(tmp_path / "restored")
    assert not report.errors
    assert read_tree(tmp_path / "restored") == files
    with kloset.open(config) as store:
        assert store.check().ok
        assert store.storage.size() > sum(map(len, files.values()))


def test_a_bucket_backed_up_into_a_local_store_restores_byte_for_byte(server: MotoServer,
                                                                     tmp_path: Path) -> None:
    files = make_tree(tmp_path / "source")
    bucket = bucket_of(tmp_path)
    s3 = server.client()
    s3.create_bucket(Bucket=bucket)
    for rel, content in files.items():
        s3.put_object(Bucket=bucket, Key=f"data/{rel}", Body=content)
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(server.config(bucket, "data"), exclude=["*.bin"])
    assert not len(snap.errors())
    snap.restore(tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == {k: v for k, v in files.items() if not k.endswith(".bin")}
    snap = store.backup(server.config(bucket, "data"))
    snap.restore(tmp_path / "all")
    assert read_tree(tmp_path / "all") == files
    assert snap.header.importer_type == "s3" and snap.header.importer_root == "/data"


def test_a_snapshot_restores_into_a_bucket(server: MotoServer, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "source")
    os.mkdir(tmp_path / "source" / "hollow")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(str(tmp_path / "source"))
    bucket = bucket_of(tmp_path)
    server.client().create_bucket(Bucket=bucket)
    report = snap.restore(server.config(bucket, "restored"))
    assert not report.errors
    s3 = server.client()
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "restored/hollow/" in listed
    for rel, content in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"restored/{rel}")["Body"].read() == content


def test_the_store_reads_and_writes_from_many_threads_through_the_engine(server: MotoServer,
                                                                         tmp_path: Path) -> None:
    config = server.config(bucket_of(tmp_path))
    store = kloset.create(config, plaintext=True)
    source = tmp_path / "many"
    source.mkdir()
    for n in range(60):
        (source / f"f{n:03d}").write_bytes(random.Random(n).randbytes(20_000 + n))
    snap = store.backup(str(source))
    snap.restore(tmp_path / "back")
    assert read_tree(tmp_path / "back") == read_tree(source)
    assert len(store.storage.list(ResourceType.PACKFILE)) >= 1


def test_the_command_line_backs_up_to_and_from_s3_with_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kloset.cli.main import main

    files = make_tree(tmp_path / "source")
    with moto_server(tls=True) as server:
        (tmp_path / "ca.pem").write_bytes(server.certificate)
        # A location carries no keys: the CLI finds them where boto3 looks, and trusts the test CA
        # through AWS_CA_BUNDLE, over TLS, the connector's default.
        for name, value in {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
                            "AWS_CA_BUNDLE": str(tmp_path / "ca.pem"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                            "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("KLOSET_REPOSITORY", raising=False)
        location = server.location(bucket_of(tmp_path), "cli")
        assert main(["at", location, "create", "--plaintext"]) == 0
        assert main(["at", location, "backup", str(tmp_path / "source")]) == 0
        assert main(["at", location, "restore", "--to", str(tmp_path / "restored"), "latest"]) == 0
        assert main(["at", location, "check"]) == 0
        assert read_tree(tmp_path / "restored") == files
        for rel, content in files.items():
            server.client().put_object(Bucket=bucket_of(tmp_path), Key=f"data/{rel}", Body=content)
        local = str(tmp_path / "local")
        assert main(["at", local, "create", "--plaintext"]) == 0
        assert main(["at", local, "backup", server.location(bucket_of(tmp_path), "data")]) == 0
        assert main(["at", local, "restore", "--to", str(tmp_path / "from-s3"), "latest"]) == 0
        assert read_tree(tmp_path / "from-s3") == files
        capsys.readouterr()


@pytest.mark.slow
def test_a_server_stopped_while_worker_processes_upload_is_the_backups_typed_error(tmp_path: Path) -> None:
    # Big enough that the backup reads and packs in its worker processes, which upload packs themselves.
    source = tmp_path / "source"
    rng = random.Random(5)
    for i in range(24):
        (source / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (source / f"d{i % 3}" / f"f{i:02}.bin").write_bytes(rng.randbytes(1_000_000))
    with moto_server() as server:
        config = {**server.config(bucket_of(tmp_path), "store"), "retries": "0"}
        store = kloset.create(config, plaintext=True)

        def stop_midway(files: int, nbytes: int) -> None:
            if nbytes > 12_000_000:
                server.stop()

        with pytest.raises(KlosetError, match="s3: ") as caught:
            store.backup(str(source), progress=stop_midway, processes=2)
        assert isinstance(caught.value, TransientError), repr(caught.value)
        server.start()
        again = kloset.open(config)
        assert again.snapshots() == []
        assert again.check().ok
        again.backup(str(source), processes=2).restore(tmp_path / "restored")
        assert (tmp_path / "restored" / "d1" / "f04.bin").read_bytes() == (source / "d1" / "f04.bin").read_bytes()
