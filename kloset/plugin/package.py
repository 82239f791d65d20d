"""Plugin packages: build one from a manifest, install one into the plugins folder, remove one.

A package is a plaintext single-file store (``NAME-vVERSION.ptar``) holding one snapshot of the
package folder, the folder of its manifest.yaml. Installing restores that snapshot into a hidden folder
beside the installed packages, checks it, then renames it into place: a package is there whole or not
at all. Adding and removing take an exclusive lock on ``PLUGINS_DIR/.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import kloset

from ..errors import AuthenticationError, ConfigError, IntegrityError, NotFound
from . import manifest as manifests
from .installed import Package, plugins_dir, read_package, scan
from .manifest import FILENAME, NAME_PATTERN, Manifest

if TYPE_CHECKING:
    from ..snapshot.snapshot import Snapshot
    from ..store import Store

#: What a package never holds: Python's caches, and package files built in the folder before.
EXCLUDED = ("__pycache__", "*.pyc", "*.ptar")


def create(manifest_path: str | os.PathLike[str], version: str | None = None,
           output_dir: str | os.PathLike[str] | None = None) -> Path:
    """Build ``NAME-vVERSION.ptar`` in ``output_dir`` (the current folder by default); return its path.

    The package folder is copied to a temporary folder first, without what :data:`EXCLUDED` names, with
    the manifest written there as ``manifest.yaml`` carrying ``version`` when one is given; that copy,
    checked again, is what the package holds. An existing file is never overwritten."""
    source = Path(manifest_path)
    m = manifests.load(source, version)
    out_dir = Path(output_dir if output_dir is not None else os.getcwd()).absolute()
    if not out_dir.is_dir():
        raise NotFound(f"{out_dir}: no such folder")
    output = out_dir / m.filename
    if output.exists() or output.is_symlink():
        raise ConfigError(f"{output} exists: remove it or choose another output folder")
    assert m.folder is not None  # set for every manifest read from a file
    with tempfile.TemporaryDirectory(prefix="kloset-pkg-") as tmp:
        stage = Path(tmp) / m.name
        shutil.copytree(m.folder, stage, symlinks=True, ignore=shutil.ignore_patterns(*EXCLUDED))
        text = source.read_text()
        if version is not None:
            text = _with_version(text, version)
        (stage / FILENAME).write_text(text)
        # Checked as copied: a symlink to an absolute path inside the folder, say, points out of the copy.
        staged = manifests.loads(text, f"{source} (as packed)", stage.resolve())
        if staged.version != m.version:
            raise ConfigError(f"{source}: cannot set its version to {version}: write it in the manifest")
        _write(output, stage)
    return output


def add(ptar_path: str | os.PathLike[str]) -> Package:
    """Install the package in a .ptar file; return it as installed.

    Refused (ConfigError) when a package of that name is installed, when a scheme it serves is served by
    another installed package, or when its manifest is wrong; a damaged file is an IntegrityError.
    Nothing is left behind by a refused or failed install."""
    path = Path(ptar_path).absolute()
    if not path.is_file():
        raise NotFound(f"{path}: no such file")
    try:
        # A package is plaintext: an empty passphrase keeps an encrypted file from prompting for one.
        store = kloset.open({"location": "ptar://" + str(path)}, passphrase="")
    except AuthenticationError as e:
        raise ConfigError(f"{path}: is encrypted; packages are plaintext (kloset pkg create writes them)") from e
    root = plugins_dir()
    with store:
        snap = _verified_snapshot(store, path)
        try:
            text = snap.read_text(posixpath.join(snap.root, FILENAME))
        except NotFound as e:
            raise ConfigError(f"{path}: holds no {FILENAME}, so is not a package") from e
        m = manifests.loads(text, f"{path}: {FILENAME}")
        with _locked(root):
            _refuse_conflicts(m, root)
            staging = Path(tempfile.mkdtemp(prefix=".add-", dir=root))
            try:
                staging.chmod(0o755)  # it becomes the package folder, which anyone may run from
                report = snap.restore(staging)
                if report.errors:
                    raise IntegrityError(f"{path}: damaged: " + "; ".join(f"{p}: {e}" for p, e in report.errors))
                manifests.load(staging / FILENAME)  # the files it names exist and stay inside, as restored
                os.rename(staging, root / m.name)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    return read_package(root / m.name)


def rm(name: str) -> None:
    """Remove an installed package (NotFound when there is none of that name)."""
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"{name!r} is not a package name")
    root = plugins_dir()
    with _locked(root):
        folder = root / name
        if not folder.is_dir():
            raise NotFound(f"no package {name!r} is installed (kloset pkg show lists them)")
        # Out of sight first, in one rename, so that no lookup ever sees half a package.
        trash = Path(tempfile.mkdtemp(prefix=".rm-", dir=root))
        os.rename(folder, trash / name)
        shutil.rmtree(trash)


def installed() -> list[Package]:
    """The installed packages, by name. Folders that hold no usable package are in ``scan().broken``."""
    return list(scan().packages)


def _write(output: Path, folder: Path) -> None:
    store = kloset.create({"location": "ptar://" + str(output)}, plaintext=True)
    sealed = False
    try:
        with store:  # closing the store seals the file
            snap = store.backup(str(folder), progress=False)
            if snap.summary.errors:
                unread = snap.table("errors", ["path", "error"]).to_pylist()
                raise ConfigError("cannot read " + "; ".join(f"{r['path']}: {r['error']}" for r in unread))
        sealed = True
    finally:
        if not sealed:
            with contextlib.suppress(FileNotFoundError):
                output.unlink()


def _with_version(text: str, version: str) -> str:
    line = f"version: {json.dumps(version)}"
    replaced, n = re.subn(r"(?m)^version[ \t]*:.*$", line, text, count=1)
    return replaced if n else text.rstrip("\n") + "\n" + line + "\n"


def _verified_snapshot(store: Store, path: Path) -> Snapshot:
    # Checked before counting: a snapshot whose header is damaged is left out of the list.
    report = store.check(read_data=True)
    if not report.ok:
        damage = {**report.damaged_packs, **report.damaged_states, **report.damaged_snapshots,
                  **{k: ", ".join(v) for k, v in report.damaged_files.items()}}
        raise IntegrityError(f"{path}: damaged: " + ("; ".join(f"{k}: {v}" for k, v in damage.items())
                                                     or "blobs fail their checks"))
    snaps = store.snapshots()
    if len(snaps) != 1:
        raise ConfigError(f"{path}: holds {len(snaps)} snapshots; a package holds exactly one")
    return snaps[0]


def _refuse_conflicts(m: Manifest, root: Path) -> None:
    if (root / m.name).exists():
        raise ConfigError(f"package {m.name!r} is already installed: kloset pkg rm {m.name} first")
    current = scan().served
    taken = [f"the {spec.type} for {scheme}:// is served by package {found.package!r} (kloset pkg rm {found.package})"
             for spec in m.connectors for scheme in spec.protocols
             if (found := current.get((spec.type, scheme))) is not None]
    if taken:
        raise ConfigError(f"cannot add {m.name}: " + "; ".join(taken))


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
