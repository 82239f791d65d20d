"""The fs store served as a plugin: the whole of a plugin's main."""

from kloset.connectors.fs.store import FSStore
from kloset.sdk import run_storage

if __name__ == "__main__":
    run_storage(FSStore)
