"""The fs importer as a plugin that misbehaves on cue: config key ``fault``, as ``what:arg``.

``hang:N`` and ``crash:N`` stop the scan after N records (sleeping, or exiting at once);
``transient:N`` raises TransientError there; ``crash-open:NAME`` dies while NAME's content is read,
``unreadable:NAME`` fails to open it; ``auth`` and ``config`` fail Init; ``print`` prints to stdout;
``disorder:N`` yields record N after record N+1, while it says (as the fs importer) that its records come
in snapshot order."""

import functools
import os
import time
from collections.abc import Iterator
from typing import Any

from cue import cue

from kloset.connectors.fs.importer import FSImporter
from kloset.errors import AuthenticationError, ConfigError, TransientError
from kloset.objects import Record
from kloset.sdk import run_importer


class FaultyImporter(FSImporter):
    def __init__(self, config: dict[str, str], options: Any = None) -> None:
        config, self.fault, self.arg = cue(config)
        if self.fault == "auth":
            raise AuthenticationError("the source refused our key")
        if self.fault == "config":
            raise ConfigError("port: not a number")
        if self.fault == "print":
            print("a stray line on stdout, in Init")
        super().__init__(config, options)

    def scan(self) -> Iterator[Record]:
        held: Record | None = None
        for n, rec in enumerate(self._scan()):
            if self.fault == "disorder" and n == int(self.arg):
                held = rec
                continue
            yield rec
            if held is not None:
                yield held
                held = None

    def _scan(self) -> Iterator[Record]:
        for n, rec in enumerate(super().scan()):
            if self.fault in ("hang", "crash", "transient") and n == int(self.arg):
                if self.fault == "hang":
                    time.sleep(60)
                if self.fault == "crash":
                    os._exit(1)
                raise TransientError("the source went away")
            if rec.pathname.endswith("/" + self.arg) and self.fault == "crash-open":
                rec.open = CrashingReader
            if rec.pathname.endswith("/" + self.arg) and self.fault == "unreadable":
                rec.open = functools.partial(unreadable, rec.pathname)
            if self.fault == "print":
                print("a stray line on stdout, in the scan:", rec.pathname)
            yield rec


class CrashingReader:
    """Gives the first bytes of a file's content, then the process dies."""

    def __enter__(self) -> "CrashingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self, n: int = -1) -> bytes:
        if getattr(self, "started", False):
            os._exit(1)
        self.started = True
        return b"the first bytes"


def unreadable(path: str) -> Any:
    raise PermissionError(13, "Permission denied", path)


run_importer(FaultyImporter)
