"""The installed plugin packages, and which of them serves a scheme.

This is what the registry asks on every lookup, so it stays cheap: it imports neither gRPC nor the
engine, and keeps its scan of the plugins folder while the folder keeps its mtime and lists the same
package folders (names and inode numbers). Adding or removing a package renames a folder into or out
of it, which changes both, so a long-lived process (the agent) sees packages added after it started.
Either alone can miss a change: the mtime moves in steps of the file system's clock (milliseconds on
ext4), and a folder made right after one was deleted can get its inode number.

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


_Key = tuple[int, tuple[tuple[str, int], ...]]
_scans: dict[Path, tuple[_Key, Scan]] = {}
_scans_lock = threading.Lock()


def scan() -> Scan:
    """The packages installed now (the last scan, while the plugins folder has not changed)."""
    root = plugins_dir()
    try:
        mtime = root.stat().st_mtime_ns
        with os.scandir(root) as entries:
            listing = tuple(sorted((e.name, e.inode()) for e in entries if not e.name.startswith(".")))
    except FileNotFoundError:
        return Scan()
    with _scans_lock:
        cached = _scans.get(root)
    if cached is not None and cached[0] == (mtime, listing):
        return cached[1]
    # What was read before the scan is the key kept: a change during the scan makes the next call rescan.
    result = _read(root, [name for name, _ in listing])
    with _scans_lock:
        _scans[root] = ((mtime, listing), result)
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


def _read(root: Path, names: list[str]) -> Scan:
    packages: list[Package] = []
    broken: dict[str, str] = {}
    served: dict[tuple[str, str], Found] = {}
    for name in names:
        if not (root / name).is_dir():
            continue
        try:
            package = read_package(root / name)
        except KlosetError as e:
            broken[name] = str(e)
            continue
        packages.append(package)
        for spec in package.manifest.connectors:
            for scheme in spec.protocols:
                # `pkg add` refuses a scheme another package serves; of two put here by hand, the first wins.
                served.setdefault((spec.type, scheme), Found(package.name, package.version, spec))
    return Scan(tuple(packages), broken, served)
