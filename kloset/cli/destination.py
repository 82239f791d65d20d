"""kloset destination: named restore destinations (``@name``): where ``kloset restore -to @name`` writes."""

from __future__ import annotations

from .entries import EntryCommand

_command = EntryCommand("destination")
configure = _command.configure
run = _command.run
