"""Plugin packages through the library: create, add, find, remove, and what add refuses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import kloset
from kloset.errors import ConfigError, IntegrityError, NotFound
from kloset.plugin import installed, package

from .test_manifest import fields, first, write_package


@pytest.fixture(autouse=True)
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KLOSET_PLUGINS_DIR", str(tmp_path / "plugins"))
    return tmp_path / "plugins"


def built(tmp_path: Path, name: str = "demo", version: str | None = None, **more: Any) -> Path:
    """A package file built by ``package.create`` from a fresh folder."""
    manifest_path = write_package(tmp_path / "src" / name, fields(name, **more))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return package.create(manifest_path, version, out)


def raw_package(tmp_path: Path, folder: Path, *, snapshots: int = 1, passphrase: str | None = None) -> Path:
    """A .ptar of ``folder`` made without ``pkg create``'s checks: what a careless or hostile author ships."""
    path = tmp_path / f"raw-{folder.name}.ptar"
    with kloset.create({"location": f"ptar://{path}"}, plaintext=passphrase is None, passphrase=passphrase) as s:
        for _ in range(snapshots):
            s.backup(str(folder), progress=False)
    return path


def left_in(plugins: Path) -> list[str]:
    return sorted(p.name for p in plugins.iterdir()) if plugins.exists() else []


def test_a_package_round_trips_through_create_add_find_and_rm(tmp_path: Path, plugins: Path) -> None:
    ptar = built(tmp_path)
    assert ptar == tmp_path / "out" / "demo-v1.0.0.ptar"
    assert installed.find("importer", "demo") is None  # scanned before the add: the add must still show
    p = package.add(ptar)
    assert (p.name, p.version, p.folder) == ("demo", "1.0.0", plugins / "demo")
    assert [q.name for q in package.installed()] == ["demo"]
    found = installed.find("importer", "DEMO")
    assert found is not None and (found.package, found.version) == ("demo", "1.0.0")
    assert found.spec.command[1] == str(plugins / "demo" / "plugin.py")
    assert Path(found.spec.command[1]).read_text() == "import sys\nsys.exit(0)\n"
    assert installed.schemes("importer") == ["demo"] and installed.schemes("exporter") == []
    assert installed.find("exporter", "demo") is None
    package.rm("demo")
    assert installed.find("importer", "demo") is None
    assert package.installed() == []
    assert left_in(plugins) == [".lock"]


def test_the_package_file_is_a_plaintext_store_of_one_snapshot_of_the_folder(tmp_path: Path) -> None:
    src = tmp_path / "src" / "demo"
    write_package(src, fields())
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "plugin.cpython-311.pyc").write_bytes(b"\0")
    (src / "stale.pyc").write_bytes(b"\0")
    (src / "demo-v0.9.0.ptar").write_bytes(b"an older build")
    (src / "lib").mkdir()
    (src / "lib" / "helper.py").write_text("x = 1\n")
    ptar = package.create(src / "manifest.yaml", output_dir=tmp_path)
    with kloset.open(str(ptar)) as store:
        assert not store.encrypted
        (snap,) = store.snapshots()
        names = sorted(os.path.relpath(p, snap.root) for p in snap.files()["path"] if p != snap.root)
    assert names == ["lib", "lib/helper.py", "manifest.yaml", "plugin.py", "schema.json"]


def test_a_version_given_to_create_is_the_version_inside_the_package(tmp_path: Path, plugins: Path) -> None:
    ptar = built(tmp_path, version="v2.0.0")
    assert ptar.name == "demo-v2.0.0.ptar"
    assert yaml.safe_load((tmp_path / "src" / "demo" / "manifest.yaml").read_text())["version"] == "1.0.0"
    assert package.add(ptar).version == "2.0.0"
    assert yaml.safe_load((plugins / "demo" / "manifest.yaml").read_text())["version"] == "v2.0.0"


def test_a_version_given_to_create_supplies_a_missing_one(tmp_path: Path) -> None:
    data = fields()
    del data["version"]
    path = write_package(tmp_path / "demo", data)
    with pytest.raises(ConfigError, match="version: missing"):
        package.create(path, output_dir=tmp_path)
    assert package.create(path, "1.4.0", tmp_path).name == "demo-v1.4.0.ptar"


def test_create_refuses_to_overwrite_a_package_file(tmp_path: Path) -> None:
    ptar = built(tmp_path)
    before = ptar.read_bytes()
    with pytest.raises(ConfigError, match="exists"):
        package.create(tmp_path / "src" / "demo" / "manifest.yaml", output_dir=ptar.parent)
    assert ptar.read_bytes() == before


def test_create_refuses_a_wrong_manifest_and_writes_nothing(tmp_path: Path) -> None:
    data = fields()
    first(data)["executable"] = "../outside.py"
    path = write_package(tmp_path / "src" / "demo", data)
    with pytest.raises(ConfigError, match=r"connectors\[0\].executable: '../outside.py' leaves the package folder"):
        package.create(path, output_dir=tmp_path)
    assert not list(tmp_path.glob("*.ptar"))


def test_add_refuses_a_package_already_installed(tmp_path: Path, plugins: Path) -> None:
    package.add(built(tmp_path))
    again = built(tmp_path / "again", version="1.1.0")
    with pytest.raises(ConfigError, match="package 'demo' is already installed: kloset pkg rm demo first"):
        package.add(again)
    assert left_in(plugins) == [".lock", "demo"]
    assert package.installed()[0].version == "1.0.0"


def test_add_refuses_a_protocol_another_package_serves_and_leaves_nothing(tmp_path: Path, plugins: Path) -> None:
    package.add(built(tmp_path, "first", protocols=("ftp", "demo")))
    with pytest.raises(ConfigError) as e:
        package.add(built(tmp_path, "second", protocols=("sftp", "ftp")))
    assert "the importer for ftp:// is served by package 'first' (kloset pkg rm first)" in str(e.value)
    assert "sftp" not in str(e.value)
    assert left_in(plugins) == [".lock", "first"]
    found = installed.find("importer", "ftp")
    assert found is not None and found.package == "first"


def _damaged(ptar: Path, how: str) -> None:
    data = bytearray(ptar.read_bytes())
    if how == "truncated":
        del data[len(data) * 2 // 3:]
    else:
        middle = len(data) // 2
        data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    ptar.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["corrupted", "truncated"])
def test_add_refuses_a_damaged_package_file_and_leaves_nothing(tmp_path: Path, plugins: Path, how: str) -> None:
    ptar = built(tmp_path)
    _damaged(ptar, how)
    with pytest.raises(IntegrityError):
        package.add(ptar)
    assert left_in(plugins) in ([], [".lock"])
    assert installed.find("importer", "demo") is None


def test_add_refuses_a_package_for_another_api_version(tmp_path: Path, plugins: Path) -> None:
    folder = tmp_path / "demo"
    write_package(folder, fields(api_version="v9.0.0"))
    with pytest.raises(ConfigError, match=r"manifest.yaml: api_version: 'v9.0.0' is not spoken by this kloset"):
        package.add(raw_package(tmp_path, folder))
    assert left_in(plugins) == []


def test_add_refuses_an_executable_that_leaves_the_package_once_restored(tmp_path: Path, plugins: Path) -> None:
    folder = tmp_path / "demo"
    data = fields()
    first(data)["executable"] = "run.py"
    write_package(folder, data)
    (folder / "run.py").symlink_to("/usr/bin/env")
    with pytest.raises(ConfigError, match=r"executable: 'run.py' leaves the package folder \(through a symlink\)"):
        package.add(raw_package(tmp_path, folder))
    assert left_in(plugins) == [".lock"]


def test_add_refuses_a_file_of_two_snapshots(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    write_package(folder, fields())
    with pytest.raises(ConfigError, match="holds 2 snapshots; a package holds exactly one"):
        package.add(raw_package(tmp_path, folder, snapshots=2))


def test_add_refuses_a_folder_without_a_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "notes.txt").write_text("no manifest here\n")
    with pytest.raises(ConfigError, match=r"holds no manifest\.yaml, so is not a package"):
        package.add(raw_package(tmp_path, folder))


def test_add_refuses_an_encrypted_file_without_asking_for_a_passphrase(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KLOSET_PASSPHRASE", raising=False)
    monkeypatch.delenv("KLOSET_PASSPHRASE_CMD", raising=False)
    folder = tmp_path / "demo"
    write_package(folder, fields())
    with pytest.raises(ConfigError, match="is encrypted; packages are plaintext"):
        package.add(raw_package(tmp_path, folder, passphrase="secret"))


def test_add_of_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        package.add(tmp_path / "nothing.ptar")


def test_rm_of_a_package_not_installed_is_not_found() -> None:
    with pytest.raises(NotFound, match="no package 'demo' is installed"):
        package.rm("demo")


@pytest.mark.parametrize("name", ["..", "../plugins", "a/b", ""])
def test_rm_refuses_a_name_that_is_no_package_name(name: str) -> None:
    with pytest.raises(ConfigError, match="is not a package name"):
        package.rm(name)


def test_a_broken_package_folder_does_not_hide_the_others(tmp_path: Path, plugins: Path) -> None:
    package.add(built(tmp_path))
    (plugins / "broken").mkdir()
    (plugins / "broken" / "manifest.yaml").write_text("name: broken\n")
    scan = installed.scan()
    assert [p.name for p in scan.packages] == ["demo"]
    assert "version: missing" in scan.broken["broken"]
    assert installed.find("importer", "demo") is not None


def test_a_package_replaced_right_after_its_removal_is_seen_at_once(tmp_path: Path) -> None:
    first_build, second_build = built(tmp_path / "a"), built(tmp_path / "b", version="2.0.0")
    package.add(first_build)
    found = installed.find("importer", "demo")
    assert found is not None and found.version == "1.0.0"
    package.rm("demo")
    package.add(second_build)
    found = installed.find("importer", "demo")
    assert found is not None and found.version == "2.0.0"


def test_a_broken_package_folder_can_be_removed(plugins: Path) -> None:
    (plugins / "broken").mkdir(parents=True)
    (plugins / "broken" / "manifest.yaml").write_text("name: [\n")
    assert "not valid YAML" in installed.scan().broken["broken"]
    package.rm("broken")
    assert installed.scan().broken == {}
    assert left_in(plugins) == [".lock"]


def test_a_folder_named_otherwise_than_its_package_is_broken(tmp_path: Path, plugins: Path) -> None:
    write_package(plugins / "other", fields("demo"))
    assert installed.scan().broken == {"other": f"{plugins / 'other'}: holds package 'demo', not 'other'"}
    assert installed.find("importer", "demo") is None


def test_create_refuses_a_symlink_that_would_leave_the_packed_copy(tmp_path: Path) -> None:
    data = fields()
    first(data)["executable"] = "run.py"
    path = write_package(tmp_path / "demo", data)
    (tmp_path / "demo" / "run.py").symlink_to(tmp_path / "demo" / "plugin.py")  # absolute, yet inside
    with pytest.raises(ConfigError, match=r"manifest.yaml \(as packed\): connectors\[0\].executable: 'run.py' leaves"):
        package.create(path, output_dir=tmp_path)
    assert not list(tmp_path.glob("*.ptar"))
