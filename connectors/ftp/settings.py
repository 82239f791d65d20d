"""An FTP connector config, checked: ``ftp://[USER@]HOST[:PORT]/PATH`` and its keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from kloset.errors import ConfigError

DEFAULT_PORT = 21
DEFAULT_TIMEOUT = 10.0
_FLAGS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


@dataclass(frozen=True, slots=True)
class Settings:
    """What a connector config says, checked: ``ftp://[USER@]HOST[:PORT]/PATH`` and the keys."""

    host: str
    port: int
    path: str
    username: str
    password: str = field(repr=False)  # kept out of logs and tracebacks
    tls: bool
    verify: bool
    passive: bool
    timeout: float

    @property
    def origin(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def settings_of(config: dict[str, str]) -> Settings:
    location = config.get("location", "")
    parts = urlsplit(location)
    if parts.scheme.lower() != "ftp" or not parts.hostname:
        raise ConfigError(f"ftp: {location!r} is not a location of the form ftp://[USER@]HOST[:PORT]/PATH")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as e:
        raise ConfigError(f"ftp: {location!r} has an invalid port") from e
    if parts.password is not None:
        raise ConfigError("ftp: give the password in the password key, not in the location")
    if parts.query or parts.fragment:
        raise ConfigError(f"ftp: {location!r} has a query or fragment, which FTP locations do not take")
    segments = [s for s in unquote(parts.path, errors="surrogateescape").split("/") if s not in ("", ".")]
    if ".." in segments:
        raise ConfigError(f"ftp: {location!r}: '..' is not allowed in the path")
    user = unquote(parts.username) if parts.username else ""
    if user and config.get("username", user) != user:
        raise ConfigError(f"ftp: the location names user {user!r} and the username key {config['username']!r}")
    tls = config.get("tls", "none").lower()
    if tls not in ("none", "explicit"):
        raise ConfigError(f"ftp: tls must be none or explicit, not {tls!r}")
    try:
        timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
    except ValueError as e:
        raise ConfigError(f"ftp: timeout must be a number of seconds, not {config['timeout']!r}") from e
    if not timeout > 0:
        raise ConfigError("ftp: timeout must be positive")
    return Settings(host=parts.hostname, port=port, path="/" + "/".join(segments),
                    username=user or config.get("username") or "anonymous", password=config.get("password", ""),
                    tls=tls == "explicit", verify=not _flag(config, "tls_no_verify", False),
                    passive=_flag(config, "passive", True), timeout=timeout)


def _flag(config: dict[str, str], key: str, default: bool) -> bool:
    value = config.get(key)
    if value is None:
        return default
    if value.lower() not in _FLAGS:
        raise ConfigError(f"ftp: {key} must be true or false, not {value!r}")
    return _FLAGS[value.lower()]
