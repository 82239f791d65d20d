"""The one error tree of kloset, and the command line's exit codes.

    KlosetError                    exit 1   anything kloset raises on purpose
    ├── ConfigError                exit 2   bad arguments, bad location, bad config file
    │   └── QueryError                      a SQL query that cannot run (syntax, unknown table...)
    ├── NotFound                   exit 3   no such store, snapshot, path or resource
    │   └── StoreNotFound
    ├── AuthenticationError        exit 4   wrong passphrase, or a key that does not open the store
    ├── IntegrityError             exit 5   a MAC/AEAD tag that does not verify, a truncated or corrupt resource
    ├── LockError                  exit 6   the store is locked by another process
    ├── TransientError             exit 7   an I/O failure worth retrying (network, busy server)
    ├── PluginError                exit 8   a plugin crashed or broke the protocol
    ├── UnsafePathError            exit 9   a path that would land outside the restore target
    ├── Unsupported                exit 11  the connector cannot do this (e.g. device nodes on S3)
    └── CheckFailed                exit 10  `check` found damage (the report names it)

Foreign exceptions are translated at each connector's edge with ``raise ... from``; the library never
prints.
"""

from __future__ import annotations


class KlosetError(Exception):
    """Base of every error kloset raises on purpose."""

    exit_code = 1


class ConfigError(KlosetError):
    """Invalid arguments, location or configuration."""

    exit_code = 2


class QueryError(ConfigError):
    """A SQL query that cannot run: a syntax error, an unknown table or column, a bad cast."""


class NotFound(KlosetError):
    """A store, snapshot, path or resource that does not exist."""

    exit_code = 3


class StoreNotFound(NotFound):
    """No store exists at the location."""


class AuthenticationError(KlosetError):
    """The passphrase or key does not open the store."""

    exit_code = 4


class IntegrityError(KlosetError):
    """Stored bytes failed their MAC or AEAD check, or are truncated or malformed."""

    exit_code = 5


class LockError(KlosetError):
    """The store is locked in a way that forbids this operation."""

    exit_code = 6


class TransientError(KlosetError):
    """A failure that may go away when retried (I/O, network, busy server)."""

    exit_code = 7


class PluginError(KlosetError):
    """A plugin process crashed, hung up or broke the protocol."""

    exit_code = 8


class UnsafePathError(KlosetError):
    """A snapshot path that would be written outside the restore target."""

    exit_code = 9


class Unsupported(KlosetError):
    """The connector or store cannot do what was asked."""

    exit_code = 11


class CheckFailed(KlosetError):
    """`check` found damage; ``report`` holds the details."""

    exit_code = 10

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


__all__ = [
    "AuthenticationError",
    "CheckFailed",
    "ConfigError",
    "IntegrityError",
    "KlosetError",
    "LockError",
    "NotFound",
    "PluginError",
    "StoreNotFound",
    "TransientError",
    "UnsafePathError",
    "Unsupported",
]
