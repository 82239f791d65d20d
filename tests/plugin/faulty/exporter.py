"""The fs exporter as a plugin that misbehaves on cue: config key ``fault``. ``crash:NAME`` writes the
first piece of NAME's content, then the process dies."""

import os
from collections.abc import Iterable, Iterator

from cue import cue

from kloset.connectors.fs.exporter import FSExporter
from kloset.objects import FileInfo
from kloset.sdk import run_exporter


class FaultyExporter(FSExporter):
    def __init__(self, config: dict[str, str]) -> None:
        config, self.fault, self.arg = cue(config)
        super().__init__(config)

    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        if self.fault == "crash" and path.endswith(self.arg):
            content = first_piece_then_die(content)
        super().write_file(path, info, content)


def first_piece_then_die(content: Iterable[bytes]) -> Iterator[bytes]:
    yield next(iter(content))
    os._exit(1)


run_exporter(FaultyExporter)
