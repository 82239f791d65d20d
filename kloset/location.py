"""Locations: ``scheme://...`` URLs, bare paths (the ``fs`` scheme), and connector configs."""

from __future__ import annotations

import os
import re

from .errors import ConfigError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def scheme_of(location: str) -> str:
    m = _SCHEME.match(location)
    return m.group(1).lower() if m else "fs"


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


def connector_config(location: str, **options: str) -> dict[str, str]:
    """The flat connector config of a location: ``location`` plus option keys."""
    if not location:
        raise ConfigError("empty location")
    if scheme_of(location) == "fs" and not location.startswith("fs://"):
        location = fs_path(location)
    return {"location": location, **options}
