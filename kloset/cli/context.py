"""What every command shares: the store the invocation names, and snapshot references."""

from __future__ import annotations

import os
import posixpath
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import kloset
from kloset.location import connector_config, default_location, fs_path, scheme_of


@dataclass(frozen=True)
class Context:
    """The part of an invocation that comes before the command: ``at LOCATION``, if given.

    LOCATION may be ``@name``, a store entry of the user's config (see ``kloset store``)."""

    location: str | None = None
    #: True when this process runs the command and nothing else (the ``kloset`` script), so the
    #: command may tune it; False when main() is called from another program, tests included.
    own_process: bool = False
    #: A store already open at ``location`` (the agent's), lent to the command and not closed by it.
    store: kloset.Store | None = None

    @property
    def store_location(self) -> str:
        return self.location if self.location is not None else default_location()

    def open_store(self) -> AbstractContextManager[kloset.Store]:
        """The store, for a ``with`` block that closes it unless it was lent."""
        if self.store is not None:
            return nullcontext(self.store)
        return kloset.open(self.store_location)

    def open_or_create_store(self) -> kloset.Store:
        """The named store, or the default one, which a first backup creates rather than failing."""
        if self.location is None:
            from kloset.store import open_or_create_default

            return open_or_create_default()
        return kloset.open(self.location)

    def create_store(self, *, plaintext: bool) -> kloset.Store:
        location = self.store_location
        target = connector_config(location, "store")["location"]  # an entry's own location
        if scheme_of(target) == "fs":
            # `at ~/backups/new create` should not need a separate mkdir -p
            os.makedirs(fs_path(target), exist_ok=True)
        return kloset.create(location, plaintext=plaintext)


def split_ref(arg: str) -> tuple[str, str | None]:
    """``SNAP[:PATH]`` as (snapshot reference, path or None). Snapshot IDs never hold a ':'."""
    ref, sep, path = arg.partition(":")
    return ref, (path if sep and path else None)


def resolve(store: kloset.Store, arg: str) -> tuple[kloset.Snapshot, str | None]:
    """The snapshot and absolute path an ``SNAP[:PATH]`` argument names.

    A relative PATH is taken from the snapshot's root, so ``latest:docs/a.txt`` works without knowing
    where the backup was taken from."""
    ref, path = split_ref(arg)
    snap = store.snapshot(ref)
    if path is None:
        return snap, None
    # normpath keeps a leading "//"; snapshot paths have exactly one
    return snap, "/" + posixpath.normpath(posixpath.join(snap.root or "/", path)).lstrip("/")
