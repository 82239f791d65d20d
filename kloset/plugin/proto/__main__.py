"""Regenerates the Python modules of the plugin protocol from the .proto files beside this one:
``python -m kloset.plugin.proto`` (needs grpcio-tools, of the protobuf version pyproject.toml names)."""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc


def main() -> int:
    here = Path(__file__).resolve().parent
    top = here.parents[2]  # protos import each other as kloset/plugin/proto/NAME.proto
    include = str(files("grpc_tools") / "_proto")  # google/protobuf/timestamp.proto
    for proto in sorted(here.glob("*.proto")):
        # Messages only: kloset speaks gRPC through kloset.plugin.http2, not grpcio's stubs.
        args = ["protoc", f"-I{top}", f"-I{include}", f"--python_out={top}", f"--pyi_out={top}",
                str(proto.relative_to(top))]
        if protoc.main(args) != 0:
            print(f"protoc failed on {proto.name}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
