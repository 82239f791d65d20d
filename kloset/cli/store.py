"""kloset store: named stores (``@name``): what ``kloset at @name`` opens, with its passphrase."""

from __future__ import annotations

from .entries import EntryCommand

_command = EntryCommand("store")
configure = _command.configure
run = _command.run
