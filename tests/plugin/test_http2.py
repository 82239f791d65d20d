"""kloset's gRPC (kloset.plugin.http2) against grpcio's C core, both ways: the host drives plugins written
with grpcio, and a grpcio client drives plugins written with kloset.sdk. Content is large enough to need
flow control (grpcio opens 64 KiB windows; ours are 4 MiB)."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import kloset
from kloset.errors import NotFound
from kloset.importer import ImporterOptions
from kloset.objects import ResourceType
from kloset.plugin.launch import Launch, bound_class
from kloset.plugin.proto import connectors_pb2 as cpb
from kloset.plugin.proto import importer_pb2 as ipb
from kloset.plugin.proto import store_pb2 as spb
from kloset.storage import Storage
from kloset.testing.storage_suite import StorageConformance

from .grpcio_services import Stub

HERE = Path(__file__).resolve().parent
GRPCIO = [sys.executable, str(HERE / "grpcio_plugin.py")]
SDK_IMPORTER = [sys.executable, "-c", "from kloset.sdk import run_importer; "
                "from kloset.connectors.fs.importer import FSImporter; run_importer(FSImporter)"]
SDK_STORE = [sys.executable, str(HERE / "plugins" / "fs_store.py")]
SIZES = {"empty": 0, "small.txt": 5, "window.bin": 5 << 20, "odd.bin": (3 << 20) + 12345}


def tree(base: Path) -> Path:
    base.mkdir()
    (base / "sub").mkdir()
    for name, size in SIZES.items():
        (base / "sub" / name).write_bytes(os.urandom(size))
    return base


def test_the_host_backs_up_through_an_importer_plugin_written_with_grpcio(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    cls = bound_class("importer", "grpcio/importer", Launch("grpcio/importer", [*GRPCIO, "importer"]), "fs")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(cls({"location": str(src)}, ImporterOptions()))
    assert snap.summary.files == len(SIZES) and snap.summary.errors == 0
    snap.restore(str(tmp_path / "out"))
    for name in SIZES:
        assert (tmp_path / "out" / "sub" / name).read_bytes() == (src / "sub" / name).read_bytes(), name


def test_the_host_acknowledges_every_record_to_an_importer_that_asks(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    acks = tmp_path / "acks.txt"
    cls = bound_class("importer", "grpcio/importer", Launch("grpcio/importer", [*GRPCIO, "importer"]), "fs")
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(cls({"location": str(src), "acks": str(acks)}, ImporterOptions()))
    assert snap.summary.files == len(SIZES)
    # Every record once: each file once its content was read, the folders at once.
    expected = [str(src), str(src / "sub"), *(str(src / "sub" / n) for n in SIZES)]
    assert sorted(acks.read_text().splitlines()) == sorted(expected)


class TestAStorePluginWrittenWithGrpcio(StorageConformance):
    def make_store(self, tmp_path: Path) -> Storage:
        cls = bound_class("storage", "grpcio/storage", Launch("grpcio/storage", [*GRPCIO, "storage"]), "fs")
        store: Storage = cls({"location": str(tmp_path / "store")})
        return store

    def test_a_large_object_goes_and_comes_back_whole(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        data = os.urandom((6 << 20) + 7)
        store.put(ResourceType.PACKFILE, b"\x01" * 32, data)
        assert store.get(ResourceType.PACKFILE, b"\x01" * 32) == data
        assert store.get(ResourceType.PACKFILE, b"\x01" * 32, 5 << 20, 100) == data[5 << 20:(5 << 20) + 100]
        with pytest.raises(NotFound):
            store.get(ResourceType.PACKFILE, b"\x02" * 32)
        store.close()


def _served(command: list[str], tmp_path: Path) -> tuple[grpc.Channel, subprocess.Popen[bytes]]:
    """A grpcio channel to a kloset.sdk plugin process, speaking on the plugin's stdin/stdout."""
    path = str(tmp_path / "grpc.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    channel = grpc.insecure_channel("unix:" + path, options=[("grpc.max_receive_message_length", -1)])
    ready = grpc.channel_ready_future(channel)
    conn, _ = listener.accept()
    process = subprocess.Popen(command, stdin=conn.fileno(), stdout=conn.fileno())
    conn.close()
    listener.close()
    ready.result(timeout=10)
    return channel, process


def test_a_grpcio_host_drives_an_importer_plugin_written_with_the_sdk(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    channel, process = _served(SDK_IMPORTER, tmp_path)
    try:
        stub = Stub(channel, ipb, "Importer")
        init = stub.Init(ipb.InitRequest(proto="fs", config={"location": str(src)}, options=ipb.Options()))
        assert init.root == str(src)
        done = threading.Event()

        def acks() -> Iterator[ipb.ImportRequest]:
            done.wait()
            yield from ()

        records = []
        for response in stub.Import(acks()):
            if response.finished:
                break
            records.append(response.record)
        done.set()
        files = {r.pathname: r for r in records if r.hasReader}
        assert sorted(files) == sorted(str(src / "sub" / n) for n in SIZES)
        for path, record in files.items():
            content = b"".join(m.chunk for m in stub.Open(ipb.OpenRequest(record=record)))
            assert content == Path(path).read_bytes(), path
        with pytest.raises(grpc.RpcError) as e:
            list(stub.Open(ipb.OpenRequest(record=cpb.Record(pathname="/never/listed"))))
        assert e.value.code() is grpc.StatusCode.NOT_FOUND
        stub.Close(ipb.CloseRequest())

    finally:
        channel.close()
        assert process.wait(10) == 0


def test_an_acknowledged_record_lets_the_sdk_plugin_drop_its_reader(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    channel, process = _served(SDK_IMPORTER, tmp_path)
    try:
        stub = Stub(channel, ipb, "Importer")
        stub.Init(ipb.InitRequest(proto="fs", config={"location": str(src)}, options=ipb.Options()))
        acks: queue.SimpleQueue[ipb.ImportRequest | None] = queue.SimpleQueue()
        responses = stub.Import(iter(acks.get, None))
        records = []
        for response in responses:
            if response.finished:
                break
            records.append(response.record)
        small = next(r for r in records if r.pathname.endswith("small.txt"))
        odd = next(r for r in records if r.pathname.endswith("odd.bin"))
        acks.put(ipb.ImportRequest(result=cpb.Result(header=small)))
        # The acknowledgement is taken on a thread of the plugin's own: the reader goes soon after.
        deadline = time.monotonic() + 5
        while True:
            try:
                list(stub.Open(ipb.OpenRequest(record=small)))
            except grpc.RpcError as e:
                assert e.code() is grpc.StatusCode.NOT_FOUND
                break
            assert time.monotonic() < deadline, "the acknowledged reader was kept"
        assert len(b"".join(m.chunk for m in stub.Open(ipb.OpenRequest(record=odd)))) == SIZES["odd.bin"]
        acks.put(None)
        stub.Close(ipb.CloseRequest())
    finally:
        channel.close()
        assert process.wait(10) == 0


def test_a_grpcio_host_drives_a_store_plugin_written_with_the_sdk(tmp_path: Path) -> None:
    channel, process = _served(SDK_STORE, tmp_path)
    try:
        stub = Stub(channel, spb, "Store")
        stub.Init(spb.InitRequest(proto="fs", config={"location": str(tmp_path / "store")}))
        stub.Create(spb.CreateRequest(config=b"the config"))
        assert stub.Open(spb.OpenRequest()).config == b"the config"
        data = os.urandom((5 << 20) + 3)
        mac = b"\x07" * 32
        chunks = [spb.PutRequest(mac=mac, type=spb.STORAGE_RESOURCE_PACKFILE)]
        chunks += [spb.PutRequest(chunk=data[at:at + (1 << 20)]) for at in range(0, len(data), 1 << 20)]
        assert stub.Put(iter(chunks)).bytes_written == len(data)
        got = b"".join(m.chunk for m in stub.Get(spb.GetRequest(mac=mac, type=spb.STORAGE_RESOURCE_PACKFILE)))
        assert got == data
        ranged = spb.GetRequest(mac=mac, type=spb.STORAGE_RESOURCE_PACKFILE, range=spb.Range(offset=10, length=20))
        assert b"".join(m.chunk for m in stub.Get(ranged)) == data[10:30]
        assert list(stub.List(spb.ListRequest(type=spb.STORAGE_RESOURCE_PACKFILE)).macs) == [mac]
        with pytest.raises(grpc.RpcError) as e:
            list(stub.Get(spb.GetRequest(mac=b"\x08" * 32, type=spb.STORAGE_RESOURCE_PACKFILE)))
        assert e.value.code() is grpc.StatusCode.NOT_FOUND
        stub.Close(spb.CloseRequest())
    finally:
        channel.close()
        assert process.wait(10) == 0
