"""A built wheel carries every namespace the layout maps, and imports from nowhere else."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_built_wheel_imports_every_namespace(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True)
    wheel = next((tmp_path / "dist").glob("kloset-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("kloset/connectors/fs/store.py", "kloset/analyzers/__init__.py", "kloset/viewers/__init__.py",
                   "kloset/py.typed", "kloset/snapshot/workers.py"):
        assert module in names
    zipfile.ZipFile(wheel).extractall(tmp_path / "unpacked")
    # -S: no site processing, so the editable install of this checkout (a .pth finder) is not loaded;
    # the dependencies still come from this interpreter's site-packages.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "unpacked"), sysconfig.get_paths()["purelib"]]))
    code = ("import kloset, kloset.connectors.fs.store, kloset.connectors.fs.importer, "
            "kloset.connectors.fs.exporter, kloset.analyzers, kloset.viewers, kloset.cli.main; "
            "print(kloset.__file__, kloset.connectors.__file__)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env=env)
    assert str(ROOT) not in out.stdout and out.stdout.count(str(tmp_path / "unpacked")) == 2
