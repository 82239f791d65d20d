"""The S3 store, importer and exporter against moto's server on 127.0.0.1: the conformance suites and
what is particular to S3 (layout, paging, multipart, folder markers)."""

from __future__ import annotations

import hashlib
import pickle
import random
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from servers.s3 import MotoServer, moto_server

from kloset.connectors.s3 import client as s3_client
from kloset.connectors.s3 import store as s3_store
from kloset.connectors.s3.exporter import S3Exporter
from kloset.connectors.s3.importer import S3Importer
from kloset.connectors.s3.store import S3Store
from kloset.errors import ConfigError, KlosetError, NotFound, StoreNotFound, UnsafePathError
from kloset.exporter import Exporter
from kloset.importer import Importer, ImporterOptions
from kloset.objects import EntryType, FileInfo, ResourceType
from kloset.repository.config import DEFAULT_PACK_SIZE
from kloset.testing.exporter_suite import ExporterConformance
from kloset.testing.importer_suite import ImporterConformance
from kloset.testing.storage_suite import CONFIG, StorageConformance, payload, resource_id


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as s:
        yield s


def bucket_of(path: Path) -> str:
    """A bucket name of its own for each test folder (moto's buckets outlive a server)."""
    return "t" + hashlib.sha256(str(path).encode()).hexdigest()[:24]


def upload(server: MotoServer, bucket: str, prefix: str, tree: Path) -> None:
    s3 = server.client()
    s3.create_bucket(Bucket=bucket)
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink():
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(tree)}".lstrip("/"), Body=path.read_bytes())


def keys(server: MotoServer, bucket: str, prefix: str = "") -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


class _OnServer:
    server: MotoServer

    @pytest.fixture(autouse=True)
    def _on_server(self, server: MotoServer) -> None:
        self.server = server


class TestS3Store(_OnServer, StorageConformance):
    def make_store(self, tmp_path: Path) -> S3Store:
        return S3Store(self.server.config(bucket_of(tmp_path), "backups/store"))


class TestS3Importer(_OnServer, ImporterConformance):
    supports_symlinks = False
    preserves_mtime = False  # LastModified is when the object was written, not the file's mtime

    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        bucket = bucket_of(tree)
        upload(self.server, bucket, "data/tree", tree)
        return S3Importer(self.server.config(bucket, "data/tree"), options)


class TestS3Exporter(_OnServer, ExporterConformance):
    supports_symlinks = False
    supports_hardlinks = False
    supports_fifos = False
    supports_mtime = False  # S3 sets LastModified itself; the original mtime is kept in metadata

    def make_exporter(self, target: Path) -> Exporter:
        target.mkdir(parents=True, exist_ok=True)  # the suite looks for it beside what it must not touch
        return S3Exporter(self.server.config(bucket_of(target), "restored"))

    def open_exporter(self, tmp_path: Path) -> Exporter:
        exporter = super().open_exporter(tmp_path)
        self.server.client().create_bucket(Bucket=bucket_of(tmp_path / "target"))
        return exporter

    def read_file(self, exporter: Exporter, path: str) -> bytes:
        assert isinstance(exporter, S3Exporter)
        obj = self.server.client().get_object(Bucket=exporter.where.bucket, Key=exporter.where.key(path))
        return bytes(obj["Body"].read())

    def entry_type(self, exporter: Exporter, path: str) -> EntryType | None:
        assert isinstance(exporter, S3Exporter)
        found = keys(self.server, exporter.where.bucket, exporter.where.key(path))
        key = exporter.where.key(path)
        if key in found:
            return EntryType.FILE
        return EntryType.DIR if any(k.startswith(key + "/") for k in found) else None


# -- locations and config --------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["s3://", "s3://host", "s3://host/", "s3://host/Bad_Bucket", "s3://host/ab",
                                      "fs:///x", "s3://host/bucket/a/../b"])
def test_a_bad_location_is_a_config_error(location: str) -> None:
    with pytest.raises(ConfigError, match="s3"):
        S3Store({"location": location, "use_tls": "false"})


def test_the_location_names_endpoint_bucket_and_a_normalised_prefix() -> None:
    where = s3_client.parse_location("s3://minio.local:9000/my-bucket//a/b/")
    assert (where.endpoint, where.bucket, where.prefix) == ("minio.local:9000", "my-bucket", "a/b/")
    assert where.key("CONFIG") == "a/b/CONFIG"
    assert str(where) == "s3://minio.local:9000/my-bucket/a/b"
    assert s3_client.parse_location("s3://host/bucket").prefix == ""


def test_use_tls_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="use_tls"):
        S3Store({"location": "s3://host/bucket", "use_tls": "maybe"})


def test_an_access_key_without_its_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="secret_access_key"):
        S3Store({"location": "s3://host/bucket", "access_key": "AKIA"})


# -- store -----------------------------------------------------------------------------------------


def test_create_makes_the_bucket_and_the_layout_of_the_fs_store(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    store = S3Store(server.config(bucket, "p"))
    with pytest.raises(StoreNotFound):
        store.open()
    store.create(CONFIG)
    rid = bytes.fromhex("ab" * 32)
    for rtype in ResourceType:
        store.put(rtype, rid, rtype.name.encode())
    assert sorted(keys(server, bucket)) == ["p/CONFIG", f"p/locks/{rid.hex()}", f"p/packfiles/ab/{rid.hex()}",
                                            f"p/states/ab/{rid.hex()}"]
    assert store.size() == len(CONFIG) + len(b"PACKFILESTATELOCK")


def test_create_refuses_a_prefix_that_holds_other_objects(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    server.client().create_bucket(Bucket=bucket)
    server.client().put_object(Bucket=bucket, Key="p/notes.txt", Body=b"x")
    with pytest.raises(ConfigError, match="objects but no store"):
        S3Store(server.config(bucket, "p")).create(CONFIG)
    S3Store(server.config(bucket, "q")).create(CONFIG)  # a prefix beside it is free


def test_racing_creates_leave_one_store(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    S3Store(server.config(bucket, "other")).create(b"makes the bucket")

    def create(n: int) -> str:
        try:
            S3Store(server.config(bucket, "p")).create(b"config %d" % n)
            return "created"
        except ConfigError:
            return "refused"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(create, range(6)))
    assert outcomes.count("created") == 1
    assert S3Store(server.config(bucket, "p")).open() == b"config %d" % outcomes.index("created")


def test_the_config_is_written_create_only(server: MotoServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    S3Store(server.config(bucket_of(tmp_path), "p")).create(CONFIG)
    late = S3Store(server.config(bucket_of(tmp_path), "p"))
    # As if the other create had written CONFIG just after this one looked: the conditional PUT refuses.
    monkeypatch.setattr(late._client, "list_objects_v2", lambda **_: {"KeyCount": 0})
    with pytest.raises(ConfigError, match="a store already exists"):
        late.create(b"other")
    assert late.open() == CONFIG


def test_a_large_resource_goes_up_as_a_multipart_upload(server: MotoServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_store, "SINGLE_PUT_MAX", s3_client.MULTIPART_THRESHOLD)  # small enough to test
    store = S3Store(server.config(bucket_of(tmp_path)))
    store.create(CONFIG)
    data = random.Random(3).randbytes(s3_client.MULTIPART_THRESHOLD + 1000)
    store.put(ResourceType.PACKFILE, resource_id(1), data)
    key = f"packfiles/{resource_id(1).hex()[:2]}/{resource_id(1).hex()}"
    head = server.client().head_object(Bucket=bucket_of(tmp_path), Key=key)
    assert head["ETag"].strip('"').endswith("-2")  # a multipart object's ETag counts its parts
    assert store.get(ResourceType.PACKFILE, resource_id(1), len(data) - 10) == data[-10:]


def test_a_pack_of_the_default_size_goes_up_in_one_request(server: MotoServer, tmp_path: Path) -> None:
    store = S3Store(server.config(bucket_of(tmp_path)))
    store.create(CONFIG)
    data = random.Random(4).randbytes(DEFAULT_PACK_SIZE + 100_000)  # a pack closes just past the size
    store.put(ResourceType.PACKFILE, resource_id(1), data)
    key = f"packfiles/{resource_id(1).hex()[:2]}/{resource_id(1).hex()}"
    head = server.client().head_object(Bucket=bucket_of(tmp_path), Key=key)
    assert "-" not in head["ETag"]
    assert store.get(ResourceType.PACKFILE, resource_id(1)) == data


def test_listing_pages_through_every_key(server: MotoServer, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_client, "PAGE_SIZE", 7)
    store = S3Store(server.config(bucket_of(tmp_path)))
    store.create(CONFIG)
    ids = {resource_id(n) for n in range(30)}
    for rid in ids:
        store.put(ResourceType.STATE, rid, b"s")
    assert sorted(store.list(ResourceType.STATE)) == sorted(ids)
    assert store.size() == len(CONFIG) + 30


def test_stray_keys_are_not_listed(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    store = S3Store(server.config(bucket))
    store.create(CONFIG)
    rid = resource_id(1)
    store.put(ResourceType.PACKFILE, rid, b"whole")
    for key in (f"packfiles/00/{resource_id(2).hex()}", f"packfiles/{rid.hex()[:2]}/notes.txt",
                f"locks/ab/{resource_id(3).hex()}", f"packfiles/{resource_id(4).hex()}"):
        server.client().put_object(Bucket=bucket, Key=key, Body=b"stray")
    assert store.list(ResourceType.PACKFILE) == [rid]
    assert store.list(ResourceType.LOCK) == []


def test_a_missing_bucket_is_a_missing_store(server: MotoServer, tmp_path: Path) -> None:
    store = S3Store(server.config(bucket_of(tmp_path)))
    for call in (store.open, store.ping, lambda: store.list(ResourceType.STATE),
                 lambda: store.put(ResourceType.STATE, resource_id(1), b"x")):
        with pytest.raises(StoreNotFound):
            call()
    store.delete(ResourceType.STATE, resource_id(1))


def test_the_store_rebuilt_from_its_config_in_another_process_reads_the_same(server: MotoServer,
                                                                              tmp_path: Path) -> None:
    store = S3Store(server.config(bucket_of(tmp_path), "p"))
    store.create(CONFIG)
    store.put(ResourceType.STATE, resource_id(1), payload(1, 100))
    twin = S3Store(pickle.loads(pickle.dumps(store.config)))
    assert twin.get(ResourceType.STATE, resource_id(1)) == payload(1, 100)


# -- importer --------------------------------------------------------------------------------------


def scan(server: MotoServer, bucket: str, prefix: str = "", **options: Any) -> dict[str, Any]:
    importer = S3Importer(server.config(bucket, prefix), ImporterOptions(**options))
    try:
        return {r.pathname: r for r in importer.scan()}
    finally:
        importer.close()


def test_folder_markers_become_directories_and_odd_keys_are_skipped(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    s3 = server.client()
    s3.create_bucket(Bucket=bucket)
    for key in ("top/empty/", "top/a//b", "top/./c", "top/d/f", "top/d", "top/x"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1234")
    records = scan(server, bucket, "top")
    assert list(records) == ["/top", "/top/d", "/top/d/f", "/top/empty", "/top/x"]
    kinds = {p: r.info.type for p, r in records.items()}
    assert kinds["/top/empty"] is EntryType.DIR and kinds["/top/d"] is EntryType.DIR
    assert kinds["/top/x"] is EntryType.FILE and records["/top/x"].info.size == 4
    assert records["/top"].info.mtime_ns >= records["/top/x"].info.mtime_ns > 0


def test_the_whole_bucket_is_rooted_at_slash(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    server.client().create_bucket(Bucket=bucket)
    server.client().put_object(Bucket=bucket, Key="f", Body=b"x")
    importer = S3Importer(server.config(bucket))
    assert (importer.root, importer.type, importer.origin) == ("/", "s3", f"{server.endpoint}/{bucket}")
    assert [r.pathname for r in importer.scan()] == ["/", "/f"]


def test_an_importer_on_a_missing_bucket_is_not_found(server: MotoServer, tmp_path: Path) -> None:
    importer = S3Importer(server.config(bucket_of(tmp_path)))
    with pytest.raises(NotFound):
        importer.ping()
    with pytest.raises(NotFound):
        list(importer.scan())


def test_content_openers_stay_in_this_process(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    server.client().create_bucket(Bucket=bucket)
    server.client().put_object(Bucket=bucket, Key="f", Body=b"x")
    from kloset.snapshot.workers import picklable

    record = scan(server, bucket)["/f"]
    assert not picklable(record.open)  # the backup reads it in threads, with this importer's client


# -- exporter --------------------------------------------------------------------------------------


def test_a_large_file_is_streamed_as_a_multipart_upload(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    server.client().create_bucket(Bucket=bucket)
    exporter = S3Exporter(server.config(bucket, "r"))
    rng = random.Random(5)
    pieces = [rng.randbytes(3 << 20) for _ in range(7)] + [b"tail"]
    info = FileInfo("big", sum(map(len, pieces)), stat.S_IFREG | 0o644, 1_234_567_890_123_456_789)
    exporter.write_file("d/big", info, iter(pieces))
    head = server.client().head_object(Bucket=bucket, Key="r/d/big")
    assert head["ETag"].strip('"').endswith("-2")
    assert head["Metadata"] == {"mtime": "1234567890.123456789"}
    body = server.client().get_object(Bucket=bucket, Key="r/d/big")["Body"].read()
    assert body == b"".join(pieces)


def test_a_failed_large_file_leaves_no_object_and_no_upload(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    server.client().create_bucket(Bucket=bucket)
    exporter = S3Exporter(server.config(bucket, "r"))

    def failing() -> Iterator[bytes]:
        yield bytes(s3_client.MULTIPART_THRESHOLD + 10)
        raise KlosetError("content is corrupt")

    with pytest.raises(KlosetError, match="corrupt"):
        exporter.write_file("f", FileInfo("f"), failing())
    assert keys(server, bucket) == []
    assert server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_directories_are_folder_markers_read_back_by_the_importer(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    server.client().create_bucket(Bucket=bucket)
    exporter = S3Exporter(server.config(bucket, "r"))
    exporter.mkdir("empty", FileInfo("empty", mode=stat.S_IFDIR | 0o755))
    assert keys(server, bucket) == ["r/empty/"]
    assert scan(server, bucket, "r")["/r/empty"].info.type is EntryType.DIR


def test_symlinks_and_unsafe_paths_are_refused(server: MotoServer, tmp_path: Path) -> None:
    exporter = S3Exporter(server.config(bucket_of(tmp_path), "r"))
    with pytest.raises(KlosetError, match="symbolic links"):
        exporter.symlink("l", "a", FileInfo("l", mode=stat.S_IFLNK | 0o777))
    with pytest.raises(UnsafePathError):
        exporter.symlink("../l", "a", FileInfo("l", mode=stat.S_IFLNK | 0o777))
    assert exporter.hardlink("b", "a") is False


def test_a_destination_ping_asks_the_bucket(server: MotoServer, tmp_path: Path) -> None:
    bucket = bucket_of(tmp_path)
    exporter = S3Exporter(server.config(bucket))
    with pytest.raises(NotFound, match="s3: "):
        exporter.ping()
    server.client().create_bucket(Bucket=bucket)
    exporter.ping()
