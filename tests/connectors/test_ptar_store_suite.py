"""The ptar store in the storage conformance suite, while its file is being written.

Every test of the suite applies to a ptar that is open for writing (instances of one process on the same
path share the file being written); a sealed ptar is read-only and is tested in test_ptar.py."""

from __future__ import annotations

from pathlib import Path

from kloset.connectors.ptar.store import PtarStore
from kloset.storage import Storage
from kloset.testing.storage_suite import StorageConformance


class TestPtarStore(StorageConformance):
    write_once = True

    def make_store(self, tmp_path: Path) -> Storage:
        return PtarStore({"location": f"ptar://{tmp_path / 'store.ptar'}"})
