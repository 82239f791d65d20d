"""Content chunks are encoded and decoded without protobuf's copies, and mean exactly what protobuf's do."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError

from kloset.plugin.proto import exporter_pb2, importer_pb2, store_pb2
from kloset.plugin.wire import chunk_decoder, chunk_encoder

SIZES = [0, 1, 127, 128, 16383, 16384, (1 << 20) - 1, 1 << 20]
MESSAGES = [importer_pb2.OpenResponse, store_pb2.GetResponse]


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("size", SIZES)
def test_the_encoding_is_protobufs_byte_for_byte(cls: type, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    assert b"".join(chunk_encoder(cls)(data)) == cls(chunk=data).SerializeToString()


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("size", SIZES)
def test_the_decoding_gives_what_protobuf_parses(cls: type, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    wire = cls(chunk=data).SerializeToString()
    decode = chunk_decoder(cls)
    assert decode(wire) == data
    assert decode(memoryview(bytearray(wire))) == data  # straight from a read buffer


def test_a_message_laid_out_otherwise_is_parsed_by_protobuf() -> None:
    decode = chunk_decoder(importer_pb2.OpenResponse)
    wire = importer_pb2.OpenResponse(chunk=b"abc").SerializeToString()
    # The field twice (the last wins), and an unknown field after it: both legal, neither the usual shape.
    assert decode(wire + importer_pb2.OpenResponse(chunk=b"xyz").SerializeToString()) == b"xyz"
    assert decode(wire + b"\x10\x05") == b"abc"


def test_a_chunk_that_does_not_parse_is_refused() -> None:
    with pytest.raises(DecodeError):
        chunk_decoder(importer_pb2.OpenResponse)(b"\x0a\x05ab")


def test_only_a_bytes_field_can_be_encoded_so() -> None:
    with pytest.raises(TypeError, match="not a bytes field"):
        chunk_encoder(exporter_pb2.ExportRequest, "record")
