"""The fs store as a plugin that misbehaves on cue: config key ``fault``. ``crash:TYPE`` dies on the
first put of a resource of that type (packfile, state, lock)."""

import os

from cue import cue

from kloset.connectors.fs.store import FSStore
from kloset.objects import ResourceType
from kloset.sdk import run_storage


class FaultyStore(FSStore):
    def __init__(self, config: dict[str, str]) -> None:
        config, self.fault, self.arg = cue(config)
        super().__init__(config)

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        if self.fault == "crash" and rtype.name.lower() == self.arg:
            os._exit(1)
        return super().put(rtype, rid, data)


run_storage(FaultyStore)
