"""The user's named sources, destinations and stores (the entries ``@name`` refers to), and named
retention policies.

Each kind lives in its own YAML file under the config folder (``$KLOSET_CONFIG_DIR``, else the user's
XDG config folder for kloset): ``sources.yaml``, ``destinations.yaml`` and ``stores.yaml``, each a
mapping of names to flat connector configs (``location`` plus string keys), and ``policies.yaml``, a
mapping of names to retention policies (see :class:`kloset.RetentionPolicy`). The files hold
credentials, so they are created 0600 (never readable by others, not even for an instant) and replaced
atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import yaml

from .errors import ConfigError, NotFound

Kind = Literal["source", "destination", "store"]
KINDS: tuple[Kind, ...] = ("source", "destination", "store")

#: Words that make a key's value a secret, hidden by ``show`` unless asked for.
SECRET_WORDS = ("password", "secret", "token", "passphrase")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")

_Body = TypeVar("_Body")


def config_dir() -> Path:
    """``$KLOSET_CONFIG_DIR``, else the user's config folder for kloset."""
    env = os.environ.get("KLOSET_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("kloset"))


def is_secret(key: str) -> bool:
    key = key.lower()
    return any(word in key for word in SECRET_WORDS)


def check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ConfigError(f"no kind of entry {kind!r} (one of: {', '.join(KINDS)})")
    return kind


def parse_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """``key=value`` arguments as a dict; the value is everything after the first ``=``."""
    keys: dict[str, str] = {}
    for a in assignments:
        key, sep, value = a.partition("=")
        if not sep:
            raise ConfigError(f"{a!r}: a key is given as key=value")
        keys[_checked_key(key)] = value
    return keys


def _checked_key(key: str) -> str:
    if not _KEY.match(key):
        raise ConfigError(f"{key!r} is not a valid key (letters, digits, _ . -)")
    return key


def _stored_location(location: str) -> str:
    """The location as an entry keeps it: a bare path made absolute, so it means the same from anywhere."""
    from .location import fs_path, has_scheme

    if not location:
        raise ConfigError("an entry needs a location")
    if location.startswith("@"):
        raise ConfigError(f"{location!r}: an entry's location cannot name another entry")
    return location if has_scheme(location) else fs_path(location)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not a valid name (letters, digits, _ . -, not starting with _ . -)")
    return name


class NamedFile(ABC, Generic[_Body]):
    """A YAML file of the config folder that maps names to bodies, as stored on disk.

    Every change reads the file afresh under a lock and replaces it whole, so two processes changing
    it at once do not lose each other's change."""

    def __init__(self, filename: str, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else config_dir()
        self.path = self.folder / filename

    @abstractmethod
    def _body(self, name: str, body: object) -> _Body:
        """A body as read from the file, checked; ConfigError names the file and the name."""

    # -- reads --------------------------------------------------------------------------------------

    def all(self) -> dict[str, _Body]:
        """Every body by name, in name order."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise ConfigError(f"{self.path}: {e.strerror}") from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{self.path}: not valid YAML: {e}") from e
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"{self.path}: expected a mapping of names to {self.path.stem}")
        return {str(name): self._body(str(name), body) for name, body in sorted(data.items(), key=lambda i: str(i[0]))}

    def names(self) -> list[str]:
        return list(self.all())

    # -- changes ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, _Body]]:
        """The bodies, read under the folder's lock and written back when the block succeeds."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise ConfigError(f"{self.folder}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            bodies = self.all()
            yield bodies
            self._write(bodies)
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, bodies: dict[str, _Body]) -> None:
        text = yaml.safe_dump(bodies, default_flow_style=False, sort_keys=True, allow_unicode=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        try:
            # Created 0600, never chmod-ed afterwards: there is no moment when others could read it.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ConfigError(f"{self.path}: {e.strerror}") from e


class Entries(NamedFile[dict[str, str]]):
    """The named entries of one kind (``source``, ``destination`` or ``store``)."""

    def __init__(self, kind: str, folder: Path | None = None) -> None:
        self.kind: Kind = check_kind(kind)
        super().__init__(f"{self.kind}s.yaml", folder)

    def _body(self, name: str, body: object) -> dict[str, str]:
        if not isinstance(body, dict) or not isinstance(body.get("location"), str):
            raise ConfigError(f"{self.path}: entry {name!r} needs a location")
        # YAML reads `port: 993` as a number and `tls: no` as a boolean; connector configs are strings.
        return {str(k): _text(v) for k, v in body.items()}

    def get(self, name: str) -> dict[str, str]:
        """One entry's connector config (``location`` plus keys). NotFound when there is none."""
        entry = self.all().get(name)
        if entry is None:
            raise NotFound(f"no {self.kind} named {name!r} (see `kloset {self.kind} ls`)")
        return entry

    # -- changes ------------------------------------------------------------------------------------

    def add(self, name: str, location: str, keys: Mapping[str, str] | None = None) -> None:
        """A new entry. ConfigError when the name is taken or invalid."""
        check_name(name)
        entry = {"location": _stored_location(location),
                 **{_checked_key(k): v for k, v in (keys or {}).items() if k != "location"}}
        with self._editing() as entries:
            if name in entries:
                raise ConfigError(f"a {self.kind} named {name!r} exists already (change it with "
                                  f"`kloset {self.kind} set`)")
            entries[name] = entry

    def set(self, name: str, keys: Mapping[str, str]) -> None:
        """Set keys of an entry (``location`` included)."""
        with self._editing() as entries:
            entry = self._existing(entries, name)
            for k, v in keys.items():
                entry[_checked_key(k)] = _stored_location(v) if k == "location" else v

    def unset(self, name: str, keys: Iterable[str]) -> None:
        """Remove keys of an entry; a key it does not have is not an error."""
        with self._editing() as entries:
            entry = self._existing(entries, name)
            for k in keys:
                if k == "location":
                    raise ConfigError("an entry keeps its location (change it with set, or remove the entry)")
                entry.pop(k, None)

    def remove(self, name: str) -> None:
        with self._editing() as entries:
            self._existing(entries, name)
            del entries[name]

    def _existing(self, entries: dict[str, dict[str, str]], name: str) -> dict[str, str]:
        if name not in entries:
            raise NotFound(f"no {self.kind} named {name!r} (see `kloset {self.kind} ls`)")
        return entries[name]


class Policies(NamedFile[dict[str, Any]]):
    """The named retention policies (``kloset prune --policy NAME``): each a mapping of a policy's
    fields, checked by :meth:`kloset.RetentionPolicy.from_mapping` when it is used."""

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__("policies.yaml", folder)

    def _body(self, name: str, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ConfigError(f"{self.path}: policy {name!r} is not a mapping of keep rules")
        return {str(k): v for k, v in body.items()}

    def get(self, name: str) -> dict[str, Any]:
        """One policy's fields; ConfigError naming the policies there are when there is none."""
        policies = self.all()
        if name not in policies:
            known = ", ".join(policies) or "none yet"
            raise ConfigError(f"no retention policy named {name!r} (saved policies: {known}; save one with "
                              "`kloset prune --save-policy NAME` and keep rules)")
        return policies[name]

    def save(self, name: str, body: Mapping[str, Any]) -> bool:
        """Add or replace a policy; True when it replaced one."""
        check_name(name)
        with self._editing() as policies:
            replaced = name in policies
            policies[name] = dict(body)
        return replaced


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def entry(kind: Kind, name: str) -> dict[str, str]:
    """The connector config of the ``kind`` entry named ``name``."""
    return Entries(kind).get(name)
