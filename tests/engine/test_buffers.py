"""Content as parts: written with writev, read back whole, and carried to backup workers out of band."""

from __future__ import annotations

import functools
import os
import threading
from multiprocessing import Pipe
from pathlib import Path

import pytest

import kloset
from kloset.buffers import PartsReader, read_exactly, take, write_all
from kloset.objects import FileInfo, Record
from kloset.repository.transaction import Transaction
from kloset.snapshot.content import ContentReader
from kloset.snapshot.workers import Loaded, receive, send


def test_take_splits_the_parts_at_any_byte() -> None:
    parts: list[bytes | memoryview] = [b"abc", b"", b"defgh", b"ij"]
    head = take(parts, 5)
    assert b"".join(head) == b"abcde"
    assert b"".join(parts) == b"fghij"
    assert b"".join(take(parts, 5)) == b"fghij" and parts == []


def test_write_all_writes_more_parts_than_one_writev_takes_and_survives_short_writes() -> None:
    # A pipe takes 64 KiB before the reader drains it, so writev returns short more than once.
    parts: list[bytes | memoryview] = [bytes([i % 251]) * (i % 700 + 1) for i in range(3000)]
    expected = b"".join(parts)
    r, w = os.pipe()
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(r, 65536):
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    write_all(w, parts)
    os.close(w)
    reader.join()
    os.close(r)
    assert bytes(got) == expected and parts == []


def test_read_exactly_raises_eof_on_a_short_stream() -> None:
    r, w = os.pipe()
    os.write(w, b"12345")
    os.close(w)
    with pytest.raises(EOFError, match="5 bytes short"):
        read_exactly(r, 10)
    os.close(r)


@pytest.mark.parametrize("sizes", [[], [0], [10], [3, 0, 7, 1], [1 << 20, 5]])
def test_a_parts_reader_reads_like_a_file(sizes: list[int]) -> None:
    parts = [os.urandom(n) for n in sizes]
    whole = b"".join(parts)
    assert PartsReader(parts).read() == whole
    f = PartsReader(parts)
    pieces = []
    while piece := f.read(4):
        pieces.append(piece)
    assert b"".join(pieces) == whole
    f = PartsReader(parts)
    buf = bytearray(6)
    out = bytearray()
    while n := f.readinto(buf):
        out += buf[:n]
    assert bytes(out) == whole


def test_loaded_content_reaches_a_worker_out_of_band_and_whole() -> None:
    parts = [os.urandom(1 << 20), os.urandom(1 << 20), os.urandom(12345)]
    batch = (7, [("/a", 12, Loaded([b"hello ", b"world!"])), ("/b", 3 << 20, Loaded(parts)),
                 ("/c", 1, Loaded(error="Permission denied"))])
    ours, theirs = Pipe()
    sender = threading.Thread(target=send, args=(ours, batch))  # more than a pipe holds: read meanwhile
    sender.start()
    batch_id, items = receive(theirs)
    sender.join()
    assert batch_id == 7
    with items[0][2]() as f:
        assert f.read() == b"hello world!"
    with items[1][2]() as f:
        assert f.read() == b"".join(parts)
    with pytest.raises(OSError, match="Permission denied"):
        items[2][2]()


def test_messages_without_content_still_travel() -> None:
    ours, theirs = Pipe()
    send(ours, None)
    send(ours, {"setup": b"x" * 100})
    assert receive(theirs) is None
    assert receive(theirs) == {"setup": b"x" * 100}


def test_a_reader_of_one_part_gives_it_whole_and_of_several_none() -> None:
    one = PartsReader([b"abc"])
    assert one.whole() == b"abc" and one.read() == b""
    assert PartsReader([]).whole() == b""
    several = PartsReader([b"ab", b"cd"])
    assert several.whole() is None and several.read() == b"abcd"


@pytest.mark.parametrize("size", [0, 100, 600 << 10, 3 << 20])
def test_content_in_memory_is_stored_as_the_same_file_read_from_disk(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    with kloset.create(str(tmp_path / "store"), plaintext=True) as store:
        repo = store._repo
        reader = ContentReader(Transaction(repo), repo.config.chunking)
        info = FileInfo("f", size=size)
        from_disk = reader.read(Record("/f", info=info, open=functools.partial(open, tmp_path / "f", "rb")))
        in_memory = reader.read(Record("/f", info=info, open=Loaded([data])))
        assert (in_memory.object_id, in_memory.chunks, in_memory.size, in_memory.error) == \
            (from_disk.object_id, from_disk.chunks, from_disk.size, None)
