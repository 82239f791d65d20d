"""The installed plugin packages, and which of them serves a scheme.

This is what the registry asks on every lookup, so it stays cheap: it imports neither gRPC nor the
engine, and keeps its scan of the plugins folder until the folder's mtime changes. Adding or removing
a package renames a folder into or out of it, which changes that mtime, so a long-lived process (the
agent) sees packages added after it started.

Each package lives in ``PLUGINS_DIR/NAME/``; names that start with a dot (the lock, folders being
added or removed) are not packages.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, KlosetError
from .manifest import FILENAME, ConnectorSpec, Manifest, load

#: The environment variable that names the plugins folder.
ENVIRONMENT = "KLOSET_PLUGINS_DIR"


def plugins_dir() -> Path:
    """``$KLOSET_PLUGINS_DIR``, else ``plugins`` under the user's data folder (XDG)."""
    env = os.environ.get(ENVIRONMENT)
    if env:
        return Path(env).absolute()
    import platformdirs

    return Path(platformdirs.user_data_dir("kloset")) / "plugins"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    folder: Path
    manifest: Manifest


@dataclass(frozen=True)
class Found:
    """The connector of an installed package that serves a scheme; ``spec.command`` starts it."""

    package: str
    version: str
    spec: ConnectorSpec


@dataclass(frozen=True)
class Scan:
    packages: tuple[Package, ...] = ()
    #: Folders of the plugins folder that hold no usable package: folder name -> why.
    broken: dict[str, str] = field(default_factory=dict)
    #: (connector type, scheme) -> the connector that serves it.
    served: dict[tuple[str, str], Found] = field(default_factory=dict)


_scans: dict[Path, tuple[int, Scan]] = {}
_scans_lock = threading.Lock()


def scan() -> Scan:
    """The packages installed now (the last scan, while the plugins folder has not changed)."""
    root = plugins_dir()
    try:
        mtime = root.stat().st_mtime_ns
    except FileNotFoundError:
        return Scan()
    with _scans_lock:
        cached = _scans.get(root)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    # The mtime read before the scan is the one kept: a change during the scan makes the next call rescan.
    result = _read(root)
    with _scans_lock:
        _scans[root] = (mtime, result)
    return result


def find(kind: str, scheme: str) -> Found | None:
    """The installed connector of ``kind`` (importer, exporter, storage) that serves ``scheme``, if any."""
    return scan().served.get((kind, scheme.lower()))


def schemes(kind: str) -> list[str]:
    """The schemes installed packages serve for ``kind``."""
    return sorted(scheme for k, scheme in scan().served if k == kind)


def read_package(folder: Path) -> Package:
    """The package in ``folder``, its manifest checked (ConfigError, NotFound when it has none)."""
    m = load(folder / FILENAME)
    if m.name != folder.name:
        raise ConfigError(f"{folder}: holds package {m.name!r}, not {folder.name!r}")
    return Package(name=m.name, version=m.version, folder=folder, manifest=m)


def _read(root: Path) -> Scan:
    packages: list[Package] = []
    broken: dict[str, str] = {}
    served: dict[tuple[str, str], Found] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        try:
            package = read_package(Path(entry.path))
        except KlosetError as e:
            broken[entry.name] = str(e)
            continue
        packages.append(package)
        for spec in package.manifest.connectors:
            for scheme in spec.protocols:
                # `pkg add` refuses a scheme another package serves; of two put here by hand, the first wins.
                served.setdefault((spec.type, scheme), Found(package.name, package.version, spec))
    return Scan(tuple(packages), broken, served)
