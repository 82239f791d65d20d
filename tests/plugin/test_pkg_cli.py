"""`kloset pkg` as a real process: create, add, show, rm, and the errors a user sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_manifest import fields, first, write_package


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "KLOSET_PLUGINS_DIR": str(tmp_path / "plugins"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XDG_DATA_HOME": str(tmp_path / "data"), "KLOSET_AGENT": "off"}


def kloset(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kloset.cli.main", "pkg", *argv], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_create_add_show_rm_round_trip(tmp_path: Path, env: dict[str, str]) -> None:
    write_package(tmp_path / "demo", fields(protocols=("demo", "demos")))
    done = kloset(env, tmp_path / "demo", "create", "manifest.yaml", "1.2.3", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'demo-v1.2.3.ptar'} (")

    done = kloset(env, tmp_path, "add", "demo-v1.2.3.ptar")
    assert (done.returncode, done.stdout) == (0, "installed demo v1.2.3: importer demo, demos\n"), done.stderr

    done = kloset(env, tmp_path, "show")
    assert done.stdout == "demo v1.2.3: a demo\n  importer: demo, demos\n"
    done = kloset(env, tmp_path, "show", "demo")
    assert f"folder:       {tmp_path / 'plugins' / 'demo'}" in done.stdout
    assert f"command: {sys.executable} {tmp_path / 'plugins' / 'demo' / 'plugin.py'}" in done.stdout
    (shown,) = json.loads(kloset(env, tmp_path, "show", "--json").stdout)
    assert (shown["name"], shown["version"]) == ("demo", "1.2.3")
    assert shown["connectors"][0]["protocols"] == ["demo", "demos"]

    done = kloset(env, tmp_path, "rm", "demo")
    assert (done.returncode, done.stdout) == (0, "removed demo\n")
    assert kloset(env, tmp_path, "show").stdout == f"no plugin packages installed (in {tmp_path / 'plugins'})\n"


def test_show_says_when_a_package_overrides_a_built_in_connector(tmp_path: Path, env: dict[str, str]) -> None:
    data = fields("myftp", protocols=("ftp", "ftpx"))
    data["connectors"].append({**first(data), "type": "exporter", "protocols": ["ftp"]})
    write_package(tmp_path / "myftp", data)
    assert kloset(env, tmp_path, "create", "myftp/manifest.yaml").returncode == 0
    assert kloset(env, tmp_path, "add", "myftp-v1.0.0.ptar").returncode == 0
    lines = kloset(env, tmp_path, "show").stdout.splitlines()
    assert lines[1:] == ["  importer: ftp (overrides the built-in ftp importer), ftpx",
                         "  exporter: ftp (overrides the built-in ftp exporter)"]


def test_create_prints_every_mistake_and_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    data = fields(api_version="v0.1.0")
    first(data).update(executable="/usr/bin/true", protocols=[])
    write_package(tmp_path / "demo", data)
    done = kloset(env, tmp_path, "create", "demo/manifest.yaml")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "kloset: error: demo/manifest.yaml: api_version: 'v0.1.0' is not spoken by this kloset (it speaks v1.1.0)",
        "demo/manifest.yaml: connectors[0].protocols: missing",
        "demo/manifest.yaml: connectors[0].executable: '/usr/bin/true' is an absolute path "
        "(paths are relative to the package folder)"]
    assert not list(tmp_path.glob("*.ptar"))


def test_add_refuses_a_protocol_served_by_another_package(tmp_path: Path, env: dict[str, str]) -> None:
    write_package(tmp_path / "one", fields("one", protocols=("demo",)))
    write_package(tmp_path / "two", fields("two", protocols=("demo",)))
    for name in ("one", "two"):
        assert kloset(env, tmp_path, "create", f"{name}/manifest.yaml").returncode == 0
    assert kloset(env, tmp_path, "add", "one-v1.0.0.ptar").returncode == 0
    done = kloset(env, tmp_path, "add", "two-v1.0.0.ptar")
    assert done.returncode == 2
    assert "the importer for demo:// is served by package 'one' (kloset pkg rm one)" in done.stderr
    assert sorted(p.name for p in (tmp_path / "plugins").iterdir()) == [".lock", "one"]


def test_add_of_a_truncated_file_is_an_integrity_error(tmp_path: Path, env: dict[str, str]) -> None:
    write_package(tmp_path / "demo", fields())
    assert kloset(env, tmp_path, "create", "demo/manifest.yaml").returncode == 0
    ptar = tmp_path / "demo-v1.0.0.ptar"
    ptar.write_bytes(ptar.read_bytes()[:-100])
    done = kloset(env, tmp_path, "add", str(ptar))
    assert done.returncode == 5, done.stderr
    assert not (tmp_path / "plugins" / "demo").exists()


@pytest.mark.parametrize(("argv", "code", "message"), [
    (("rm", "demo"), 3, "no package 'demo' is installed"),
    (("show", "demo"), 3, "no package 'demo' is installed"),
    (("add", "missing.ptar"), 3, "missing.ptar: no such file"),
    (("create", "missing.yaml"), 3, "missing.yaml: no such file"),
])
def test_what_is_not_there_exits_3(tmp_path: Path, env: dict[str, str], argv: tuple[str, ...], code: int,
                                   message: str) -> None:
    done = kloset(env, tmp_path, *argv)
    assert done.returncode == code
    assert message in done.stderr
