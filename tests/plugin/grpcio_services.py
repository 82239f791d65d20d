"""grpcio servers and stubs for the protocol's services, made from the generated descriptors (what
grpcio-tools' ``*_pb2_grpc`` modules would hold; kloset's own runtime does not use grpcio)."""

from __future__ import annotations

from typing import Any

import grpc

_SERVER = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
           (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}


def _methods(module: Any, service: str) -> tuple[str, list[tuple[str, Any, Any, bool, bool]]]:
    """The service's full name, and per method: name, request and response classes, streaming both ways."""
    d = module.DESCRIPTOR.services_by_name[service]
    return d.full_name, [(m.name, getattr(module, m.input_type.name), getattr(module, m.output_type.name),
                          m.client_streaming, m.server_streaming) for m in d.methods]


def handler(module: Any, service: str, servicer: object) -> grpc.GenericRpcHandler:
    """A grpcio handler serving ``servicer``'s methods (``Method(request or iterator, context)``)."""
    full, methods = _methods(module, service)
    return grpc.method_handlers_generic_handler(full, {
        name: _SERVER[(cs, ss)](getattr(servicer, name), request_deserializer=req.FromString,
                                response_serializer=resp.SerializeToString)
        for name, req, resp, cs, ss in methods})


class Stub:
    """A grpcio client of the service: one attribute per method, called as grpcio's generated stubs are."""

    def __init__(self, channel: grpc.Channel, module: Any, service: str) -> None:
        full, methods = _methods(module, service)
        for name, req, resp, cs, ss in methods:
            make = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
                    (True, False): channel.stream_unary, (True, True): channel.stream_stream}[(cs, ss)]
            setattr(self, name, make(f"/{full}/{name}", request_serializer=req.SerializeToString,
                                     response_deserializer=resp.FromString))
