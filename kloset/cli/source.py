"""kloset source: named sources (``@name``): what ``kloset backup @name`` reads."""

from __future__ import annotations

from .entries import EntryCommand

_command = EntryCommand("source")
configure = _command.configure
run = _command.run
