"""The generated protocol modules carry exactly the services, methods, messages, field names, numbers and
types of Plakar's v1.1.0 plugin protocol (the tables of the design's PROTOCOL.md, written out here), so
that plugins and hosts of either project speak to each other; and the generated modules are what the
.proto files compile to today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor as F

from kloset.plugin.proto import connectors_pb2, exporter_pb2, importer_pb2, store_pb2

S, B, BY, I64, U64, U32, I32, E, M = (F.TYPE_STRING, F.TYPE_BOOL, F.TYPE_BYTES, F.TYPE_INT64, F.TYPE_UINT64,
                                      F.TYPE_UINT32, F.TYPE_INT32, F.TYPE_ENUM, F.TYPE_MESSAGE)
OPTIONS = {"hostname": (1, S), "os": (2, S), "arch": (3, S), "cwd": (4, S), "maxconcurrency": (5, I64),
           "excludes": (6, S), "noxattr": (7, B)}
INIT = {"options": (1, M), "proto": (2, S), "config": (3, M)}
INIT_REPLY = {"origin": (1, S), "type": (2, S), "root": (3, S), "flags": (4, U32)}

MESSAGES: dict[Any, dict[str, dict[str, tuple[int, int]]]] = {
    connectors_pb2: {
        "FileInfo": {"name": (1, S), "size": (2, I64), "mode": (3, U32), "mod_time": (4, M), "dev": (5, U64),
                     "ino": (6, U64), "uid": (7, U64), "gid": (8, U64), "nlink": (9, U32), "username": (10, S),
                     "groupname": (11, S), "flags": (12, U32)},
        "Record": {"hasReader": (1, B), "pathname": (2, S), "error": (3, S), "isXattr": (4, B),
                   "xattrName": (5, S), "xattrType": (6, E), "target": (7, S), "fileInfo": (8, M),
                   "extendedAttributes": (9, S), "fileAttributes": (10, U32)},
        "Result": {"header": (1, M), "error": (2, S)},
    },
    importer_pb2: {
        "Options": OPTIONS, "InitRequest": INIT, "InitResponse": INIT_REPLY,
        "ImportRequest": {"result": (1, M)}, "ImportResponse": {"record": (1, M), "finished": (2, B)},
        "OpenRequest": {"record": (1, M)}, "OpenResponse": {"chunk": (1, BY)},
        "PingRequest": {}, "PingResponse": {}, "CloseRequest": {}, "CloseResponse": {},
    },
    exporter_pb2: {
        "Options": OPTIONS, "InitRequest": INIT, "InitResponse": INIT_REPLY,
        "ExportRequest": {"record": (1, M), "chunk": (2, BY)}, "ExportResponse": {"result": (1, M)},
        "PingRequest": {}, "PingResponse": {}, "CloseRequest": {}, "CloseResponse": {},
    },
    store_pb2: {
        "InitRequest": {"proto": (1, S), "config": (2, M)},
        "InitResponse": {"origin": (1, S), "type": (2, S), "root": (3, S), "flags": (5, U32)},
        "CreateRequest": {"config": (1, BY)}, "OpenResponse": {"config": (1, BY)},
        "ModeResponse": {"mode": (1, I32)}, "SizeResponse": {"size": (1, I64)},
        "ListRequest": {"type": (1, E), "flags": (2, E)}, "ListResponse": {"macs": (1, BY)},
        "PutRequest": {"mac": (1, BY), "type": (2, E), "chunk": (3, BY), "flags": (4, E)},
        "PutResponse": {"bytes_written": (1, I64)},
        "Range": {"offset": (1, U64), "length": (2, U32)},
        "GetRequest": {"mac": (1, BY), "type": (2, E), "range": (3, M), "flags": (4, E)},
        "GetResponse": {"chunk": (1, BY)},
        "DeleteRequest": {"mac": (1, BY), "type": (2, E), "flags": (3, E)},
        "CreateResponse": {}, "OpenRequest": {}, "PingRequest": {}, "PingResponse": {}, "ModeRequest": {},
        "SizeRequest": {}, "DeleteResponse": {}, "CloseRequest": {}, "CloseResponse": {},
    },
}
PACKAGES = {connectors_pb2: "plakar.connectors", importer_pb2: "importer", exporter_pb2: "plakar.exporter",
            store_pb2: "store"}
# (service, method) -> (request, response, client streams, server streams)
SERVICES = {
    importer_pb2: ("Importer", {"Init": ("InitRequest", "InitResponse", False, False),
                                "Ping": ("PingRequest", "PingResponse", False, False),
                                "Import": ("ImportRequest", "ImportResponse", True, True),
                                "Open": ("OpenRequest", "OpenResponse", False, True),
                                "Close": ("CloseRequest", "CloseResponse", False, False)}),
    exporter_pb2: ("Exporter", {"Init": ("InitRequest", "InitResponse", False, False),
                                "Ping": ("PingRequest", "PingResponse", False, False),
                                "Export": ("ExportRequest", "ExportResponse", True, True),
                                "Close": ("CloseRequest", "CloseResponse", False, False)}),
    store_pb2: ("Store", {name: (f"{name}Request", f"{name}Response", name == "Put", name == "Get")
                          for name in ("Init", "Create", "Open", "Ping", "Mode", "Size", "List", "Put", "Get",
                                       "Delete", "Close")}),
}
ENUMS = {
    (connectors_pb2, "ExtendedAttributeType"): {"EXTENDED_ATTRIBUTE_TYPE_UNSPECIFIED": 0,
                                                "EXTENDED_ATTRIBUTE_TYPE_EXTENDED": 1,
                                                "EXTENDED_ATTRIBUTE_TYPE_ADS": 2},
    (store_pb2, "StorageResource"): {"STORAGE_RESOURCE_UNDEFINED": 0, "STORAGE_RESOURCE_PACKFILE": 1,
                                     "STORAGE_RESOURCE_STATE": 2, "STORAGE_RESOURCE_LOCK": 3,
                                     "STORAGE_RESOURCE_ECC_PACKFILE": 4, "STORAGE_RESOURCE_ECC_STATE": 5},
    (store_pb2, "StorageFlags"): {"STORAGE_FLAGS_UNDEFINED": 0, "STORAGE_FLAGS_HOT": 1},
}
REPEATED = {"excludes", "extendedAttributes", "macs"}  # repeated string or bytes


@pytest.mark.parametrize("module", list(MESSAGES), ids=lambda m: m.__name__.rpartition(".")[2])
def test_messages_have_exactly_the_protocols_fields(module: Any) -> None:
    d = module.DESCRIPTOR
    assert d.package == PACKAGES[module]
    assert set(d.message_types_by_name) == set(MESSAGES[module])
    for name, fields in MESSAGES[module].items():
        got = {f.name: (f.number, f.type) for f in d.message_types_by_name[name].fields}
        assert got == fields, name
        for f in d.message_types_by_name[name].fields:
            # Repeated: the lists, and the config maps (a map is a repeated entry message).
            expected = f.name in REPEATED or (f.name == "config" and f.message_type is not None)
            assert f.is_repeated == expected, f"{name}.{f.name}"


def test_the_optional_range_and_the_export_packet_are_what_the_protocol_says() -> None:
    get = store_pb2.DESCRIPTOR.message_types_by_name["GetRequest"].fields_by_name["range"]
    assert get.has_presence and get.message_type.full_name == "store.Range"
    packet = exporter_pb2.DESCRIPTOR.message_types_by_name["ExportRequest"].oneofs_by_name["packet"]
    assert [f.name for f in packet.fields] == ["record", "chunk"]
    mod_time = connectors_pb2.DESCRIPTOR.message_types_by_name["FileInfo"].fields_by_name["mod_time"]
    assert mod_time.message_type.full_name == "google.protobuf.Timestamp"
    config = importer_pb2.DESCRIPTOR.message_types_by_name["InitRequest"].fields_by_name["config"]
    assert config.message_type.GetOptions().map_entry


@pytest.mark.parametrize("module", list(SERVICES), ids=lambda m: m.__name__.rpartition(".")[2])
def test_services_have_exactly_the_protocols_methods(module: Any) -> None:
    name, methods = SERVICES[module]
    service = module.DESCRIPTOR.services_by_name[name]
    assert service.full_name == f"{PACKAGES[module]}.{name}"
    got = {m.name: (m.input_type.name, m.output_type.name, m.client_streaming, m.server_streaming)
           for m in service.methods}
    assert got == methods


def test_enums_have_exactly_the_protocols_values() -> None:
    for (module, name), values in ENUMS.items():
        got = {v.name: v.number for v in module.DESCRIPTOR.enum_types_by_name[name].values}
        assert got == values, name


def test_the_generated_modules_are_what_the_proto_files_compile_to(tmp_path: Path) -> None:
    """Compared as descriptors, not text: another grpcio-tools writes the same descriptors differently."""
    protoc = pytest.importorskip("grpc_tools.protoc")
    from importlib.resources import files

    from google.protobuf import descriptor_pb2

    top = Path(__file__).resolve().parents[2]
    out = tmp_path / "set.pb"
    names = [f"kloset/plugin/proto/{n}.proto" for n in ("connectors", "importer", "exporter", "store")]
    assert protoc.main(["protoc", f"-I{top}", f"-I{files('grpc_tools') / '_proto'}",
                        f"--descriptor_set_out={out}", *names]) == 0
    compiled = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file}
    for file in compiled.values():  # protoc adds JSON names to a descriptor set, not to generated code
        _without_json_names(file.message_type)
    for module in PACKAGES:
        generated = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert generated == compiled[module.DESCRIPTOR.name], \
            f"{module.__name__} is stale: run python -m kloset.plugin.proto"


def _without_json_names(messages: Any) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _without_json_names(message.nested_type)
