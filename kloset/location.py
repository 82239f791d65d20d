"""Locations: ``scheme://...`` URLs, bare paths (the ``fs`` scheme), ``@name`` entries, and connector configs."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Kind

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def has_scheme(location: str) -> bool:
    return _SCHEME.match(location) is not None


def scheme_of(location: str) -> str:
    """The scheme of a location; a bare path is ``fs``, or ``ptar`` when it names a ``.ptar`` file."""
    m = _SCHEME.match(location)
    if m:
        return m.group(1).lower()
    return "ptar" if location.endswith(".ptar") else "fs"


def fs_path(location: str) -> str:
    """The absolute path of an ``fs`` location (``fs:///x``, ``/x`` or a relative path)."""
    if location.startswith("fs://"):
        location = location[len("fs://"):]
    if not location:
        raise ConfigError("empty location")
    if location.startswith("@"):
        # Never a path anywhere in kloset (connector_config resolves entries before any path is made):
        # a name that reaches here is a mistake, not a relative folder.
        raise ConfigError(f"{location!r} names an entry, not a path (write ./{location} for a folder of that name)")
    return os.path.abspath(os.path.expanduser(location))


def default_location() -> str:
    """``$KLOSET_REPOSITORY``, else a store under the user's data folder."""
    env = os.environ.get("KLOSET_REPOSITORY")
    if env:
        return env
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("kloset"), "store")


#: What the API takes wherever a store, source or destination is named: a location (``@name`` included),
#: or a whole connector config (``{"location": "s3://host/bucket", "access_key": ...}``) for a connector
#: that needs keys.
Location = str | Mapping[str, str]


def location_of(location: Location) -> str:
    """The location string of a :data:`Location`."""
    return location if isinstance(location, str) else location.get("location", "")


def connector_config(location: Location, kind: Kind | None = None, **options: str) -> dict[str, str]:
    """The flat connector config of a location: ``location`` plus option keys.

    ``@name`` and ``@name:subpath`` name an entry of the user's config of that ``kind`` (``source``,
    ``destination`` or ``store``; see :mod:`kloset.config`): its location, with the subpath joined onto
    its path, and its keys. Keys given with the location (a mapping's own, then ``options``) override
    the entry's."""
    loc = location_of(location)
    keys = {} if isinstance(location, str) else {k: v for k, v in location.items() if k != "location"}
    keys.update(options)
    if loc.startswith("@"):
        entry = _entry(loc, kind)
        loc = entry.pop("location")
        keys = {**entry, **keys}
    if not loc:
        raise ConfigError("empty location")
    if not _SCHEME.match(loc):
        path = fs_path(loc)
        loc = "ptar://" + path if scheme_of(loc) == "ptar" else path
    return {"location": loc, **keys}


def _entry(reference: str, kind: Kind | None) -> dict[str, str]:
    """The config of the entry an ``@name[:subpath]`` reference names, the subpath joined on."""
    if kind is None:
        raise ConfigError(f"{reference}: a named entry is not accepted here")
    from .config import entry  # reads YAML: only when an entry is named

    name, _, subpath = reference[1:].partition(":")
    if not name:
        raise ConfigError(f"{reference!r}: name the {kind} after the @")
    config = entry(kind, name)
    if subpath:
        config["location"] = join_subpath(config["location"], subpath)
    return config


def join_subpath(location: str, subpath: str) -> str:
    """``location`` with ``subpath`` joined onto its path (a URL's path, or a bare path)."""
    sub = subpath.lstrip("/")
    if not _SCHEME.match(location):
        return os.path.join(location, sub)
    parts = urlsplit(location)
    return urlunsplit(parts._replace(path=posixpath.join(parts.path or "/", sub)))
