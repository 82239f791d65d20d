"""Locations: ``scheme://...`` URLs, bare paths (the ``fs`` scheme), and connector configs."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import ConfigError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


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
    return os.path.abspath(os.path.expanduser(location))


def default_location() -> str:
    """``$KLOSET_REPOSITORY``, else a store under the user's data folder."""
    env = os.environ.get("KLOSET_REPOSITORY")
    if env:
        return env
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("kloset"), "store")


#: What the API takes wherever a store, source or destination is named: a location, or a whole connector
#: config (``{"location": "s3://host/bucket", "access_key": ...}``) for a connector that needs keys.
Location = str | Mapping[str, str]


def location_of(location: Location) -> str:
    """The location string of a :data:`Location`."""
    return location if isinstance(location, str) else location.get("location", "")


def connector_config(location: Location, **options: str) -> dict[str, str]:
    """The flat connector config of a location: ``location`` plus option keys."""
    if not isinstance(location, str):
        keys = {k: v for k, v in location.items() if k != "location"}
        return connector_config(location_of(location), **keys, **options)
    if not location:
        raise ConfigError("empty location")
    if not _SCHEME.match(location):
        path = fs_path(location)
        location = "ptar://" + path if scheme_of(location) == "ptar" else path
    return {"location": location, **options}
