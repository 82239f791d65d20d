"""What an sftp config names: the server, the login and the path, and the keys' values."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from kloset.errors import ConfigError

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a location points: ``path`` is absolute, or relative to the session's start directory."""

    host: str
    port: int
    username: str
    path: str

    @property
    def key_name(self) -> str:
        """The host's name as known_hosts spells it."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def parse_location(config: dict[str, str]) -> Target:
    """``sftp://[USER@]HOST[:PORT]/PATH``: ``/~`` or no path at all is the start directory, ``/~/x`` a
    path below it, any other path absolute. ``username`` and ``port`` keys must agree with the URL."""
    location = config.get("location", "")
    parts = urlsplit(location)
    if parts.scheme != "sftp" or not parts.hostname:
        raise ConfigError(f"sftp: {location!r} is not sftp://[USER@]HOST[:PORT]/PATH")
    try:
        url_port = parts.port
        key_port = int(config["port"]) if config.get("port") else None
    except ValueError as e:
        raise ConfigError(f"sftp: bad port in {location!r}: {e}") from e
    if url_port and key_port and url_port != key_port:
        raise ConfigError(f"sftp: the location says port {url_port}, the port key {key_port}")
    url_user = unquote(parts.username) if parts.username else ""
    key_user = config.get("username", "")
    if url_user and key_user and url_user != key_user:
        raise ConfigError(f"sftp: the location says user {url_user!r}, the username key {key_user!r}")
    path = unquote(parts.path)
    if path in ("", "/~"):
        path = ""
    elif path.startswith("/~/"):
        path = path[3:].strip("/")
    else:
        path = "/" + path.strip("/")
    return Target(parts.hostname, url_port or key_port or 22, url_user or key_user or getpass.getuser(), path)


def flag(config: dict[str, str], key: str) -> bool:
    return config.get(key, "false").strip().lower() in _TRUE


def seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as e:
        raise ConfigError(f"sftp: timeout {value!r} is not a number of seconds") from e
    if seconds <= 0:
        raise ConfigError("sftp: timeout must be positive")
    return seconds
