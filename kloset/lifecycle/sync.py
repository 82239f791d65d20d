"""Copying snapshots between two stores: only what the receiving side lacks travels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..store import Store

ProgressFn = Callable[[int, int], None]
DIRECTIONS = ("to", "from", "with")


@dataclass
class SyncedSnapshot:
    """One snapshot a sync looked at: where it went and whether it was copied or already there."""

    source_id: str
    target_id: str  # the copy's ID on the receiving store ("" when skipped)
    direction: str  # "to" or "from", as seen from the store sync was called on
    copied: bool
    files: int = 0
    size: int = 0  # logical bytes of the snapshot's files
    stored: int = 0  # bytes the copy added to the receiving store


@dataclass
class SyncReport:
    snapshots: list[SyncedSnapshot] = field(default_factory=list)

    @property
    def copied(self) -> int:
        return sum(s.copied for s in self.snapshots)

    @property
    def skipped(self) -> int:
        return sum(not s.copied for s in self.snapshots)

    @property
    def stored(self) -> int:
        return sum(s.stored for s in self.snapshots)


def sync(store: Store, other: Store, *, direction: str = "to", snapshots: list[str] | None = None,
         progress: bool | ProgressFn = False) -> SyncReport:
    """Copy snapshots of ``store`` to ``other`` (``to``), of ``other`` to ``store`` (``from``), or both."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"sync direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    raise ConfigError("sync is not available yet")
