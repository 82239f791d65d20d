"""manifest.yaml: what loads, and every mistake named by its field."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kloset.errors import ConfigError, NotFound
from kloset.importer import LocationFlags
from kloset.plugin import API_VERSION, manifest

SCHEMA = {"type": "object", "required": ["location"], "additionalProperties": False,
          "properties": {"location": {"type": "string"}, "port": {"pattern": "^[0-9]+$"}, "password": {}},
          # a rule over the whole config, whose message from jsonschema would quote every value
          "not": {"properties": {"password": {"const": "s3cret"}}, "required": ["password"]}}


def fields(name: str = "demo", protocols: tuple[str, ...] = ("demo",), **more: Any) -> dict[str, Any]:
    """A manifest that is right, as a mapping to spoil."""
    return {"name": name, "version": "1.0.0", "api_version": API_VERSION, "description": "a demo",
            "connectors": [{"type": "importer", "protocols": list(protocols), "executable": "plugin.py"}], **more}


def write_package(folder: Path, data: dict[str, Any]) -> Path:
    """A package folder holding ``data`` as its manifest, a script and a schema; returns the manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.py").write_text("import sys\nsys.exit(0)\n")
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def first(data: dict[str, Any]) -> dict[str, Any]:
    connector: dict[str, Any] = data["connectors"][0]
    return connector


def test_a_right_manifest_loads_with_its_fields(tmp_path: Path) -> None:
    data = fields(protocols=("Demo", "demos"), version="v2.3.4-rc.1", tags=["net"], license="ISC")
    first(data).update(location_flags=["localfs", "NeedAck"], args=["--fast"], validator="schema.json",
                       extra_files=["schema.json"], **{"class": "Demo", "subclass": "net"})
    m = manifest.load(write_package(tmp_path / "demo", data))
    assert (m.name, m.version, m.api_version, m.tags, m.license) == ("demo", "2.3.4-rc.1", API_VERSION, ("net",), "ISC")
    assert m.filename == "demo-v2.3.4-rc.1.ptar"
    spec = m.connectors[0]
    assert spec.protocols == ("demo", "demos")  # schemes are case-insensitive: kept lowercased
    assert spec.flags == LocationFlags.LOCALFS | LocationFlags.NEEDACK
    assert (spec.class_name, spec.subclass) == ("Demo", "net")
    assert spec.command == [sys.executable, str(tmp_path.resolve() / "demo" / "plugin.py"), "--fast"]


def test_an_executable_that_is_not_python_runs_by_itself(tmp_path: Path) -> None:
    data = fields()
    first(data)["executable"] = "bin/run"
    path = write_package(tmp_path / "demo", data)
    (tmp_path / "demo" / "bin").mkdir()
    (tmp_path / "demo" / "bin" / "run").write_text("#!/bin/sh\n")
    (tmp_path / "demo" / "bin" / "run").chmod(0o755)
    assert manifest.load(path).connectors[0].command == [str(tmp_path.resolve() / "demo" / "bin" / "run")]


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


def _set_first(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: first(d).update(values)


MISTAKES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no name", _drop("name"), "manifest.yaml: name: missing"),
    ("no version", _drop("version"), "manifest.yaml: version: missing"),
    ("no api version", _drop("api_version"), "manifest.yaml: api_version: missing"),
    ("no connectors", _drop("connectors"), "manifest.yaml: connectors: missing"),
    ("empty connectors", lambda d: d.update(connectors=[]), "connectors: must be a non-empty list"),
    ("unsafe name", lambda d: d.update(name="../Demo"), "name: '../Demo' is not a safe name"),
    ("version not semver", lambda d: d.update(version="1.0"), "version: '1.0' is not a semantic version"),
    ("version a number", lambda d: d.update(version=1.5), "version: must be a string, not float"),
    ("other api version", lambda d: d.update(api_version="v2.0.0"),
     f"api_version: 'v2.0.0' is not spoken by this kloset (it speaks {API_VERSION})"),
    ("unknown field", lambda d: d.update(lisence="MIT"), "lisence: unknown field"),
    ("tags not a list", lambda d: d.update(tags="net"), "tags: must be a list of strings"),
    ("no protocols", lambda d: first(d).pop("protocols"), "manifest.yaml: connectors[0].protocols: missing"),
    ("no type", lambda d: first(d).pop("type"), "connectors[0].type: missing"),
    ("bad type", _set_first(type="source"), "connectors[0].type: 'source' is not one of importer, exporter, storage"),
    ("bad scheme", _set_first(protocols=["1ftp"]), "connectors[0].protocols: '1ftp' is not a URL scheme"),
    ("scheme twice", _set_first(protocols=["ftp", "FTP"]), "connectors[0].protocols: a protocol is listed twice"),
    ("bad flag", _set_first(location_flags=["fast"]), "connectors[0].location_flags: 'fast' is not one of localfs"),
    ("no executable", lambda d: first(d).pop("executable"), "connectors[0].executable: missing"),
    ("executable up", _set_first(executable="../x"), "connectors[0].executable: '../x' leaves the package folder"),
    ("executable up inside", _set_first(executable="bin/../../x"), "'bin/../../x' leaves the package folder"),
    ("executable absolute", _set_first(executable="/bin/sh"),
     "connectors[0].executable: '/bin/sh' is an absolute path"),
    ("executable missing", _set_first(executable="nothere.py"), "'nothere.py' does not exist in the package folder"),
    ("executable a folder", _set_first(executable="."), "connectors[0].executable: '.' is not a regular file"),
    ("args not a list", _set_first(args="-v"), "connectors[0].args: must be a list of strings"),
    ("extra file missing", _set_first(extra_files=["data.bin"]),
     "connectors[0].extra_files[0]: 'data.bin' does not exist"),
    ("validator outside", _set_first(validator="../schema.json"), "connectors[0].validator: '../schema.json' leaves"),
    ("unknown connector field", _set_first(protocol=["x"]), "connectors[0].protocol: unknown field"),
    ("connector not a mapping", lambda d: d.update(connectors=["ftp"]), "connectors[0]: must be a mapping of fields"),
    ("protocol twice in one type", lambda d: d["connectors"].append(dict(first(d))),
     "connectors[1].protocols: 'demo' is already served by the importer of connectors[0]"),
]


@pytest.mark.parametrize(("spoil", "message"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_named_by_its_field(tmp_path: Path, spoil: Callable[[dict[str, Any]], None],
                                            message: str) -> None:
    data = fields()
    spoil(data)
    path = write_package(tmp_path / "demo", data)
    with pytest.raises(ConfigError) as e:
        manifest.load(path)
    assert message in str(e.value)
    assert str(path) in str(e.value)


def test_every_mistake_is_listed_at_once(tmp_path: Path) -> None:
    data = fields(version="one")
    del data["name"]
    first(data).update(executable="../x", protocols=[])
    with pytest.raises(ConfigError) as e:
        manifest.load(write_package(tmp_path / "demo", data))
    lines = str(e.value).splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "name: missing", "version: 'one' is not a semantic version (1.2.3 or v1.2.3)",
        "connectors[0].protocols: missing", "connectors[0].executable: '../x' leaves the package folder"]


def test_the_same_protocol_may_serve_two_kinds(tmp_path: Path) -> None:
    data = fields()
    data["connectors"].append({**first(data), "type": "exporter"})
    m = manifest.load(write_package(tmp_path / "demo", data))
    assert [c.type for c in m.connectors] == ["importer", "exporter"]


def test_an_executable_symlinked_out_of_the_package_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text("print('not packaged')\n")
    data = fields()
    first(data)["executable"] = "link.py"
    path = write_package(tmp_path / "demo", data)
    (tmp_path / "demo" / "link.py").symlink_to(outside)
    with pytest.raises(ConfigError, match=r"executable: 'link.py' leaves the package folder \(through a symlink\)"):
        manifest.load(path)


def test_an_executable_symlinked_inside_the_package_is_fine(tmp_path: Path) -> None:
    data = fields()
    first(data)["executable"] = "link.py"
    path = write_package(tmp_path / "demo", data)
    (tmp_path / "demo" / "link.py").symlink_to("plugin.py")
    assert manifest.load(path).connectors[0].executable == "link.py"


def test_a_program_without_its_execute_bit_is_refused(tmp_path: Path) -> None:
    data = fields()
    first(data)["executable"] = "run.sh"
    path = write_package(tmp_path / "demo", data)
    (tmp_path / "demo" / "run.sh").write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError, match=r"'run.sh' is not executable \(chmod \+x it"):
        manifest.load(path)


@pytest.mark.parametrize(("content", "message"), [
    (json.dumps({"type": "nope"}), "'schema.json' is not a valid JSON Schema"),
    (json.dumps({"properties": {"port": {"minLength": "three"}}}), "'schema.json' is not a valid JSON Schema"),
    (json.dumps([1, 2]), "'schema.json' is not a valid JSON Schema: a schema is an object or a boolean"),
    ("{not json", "'schema.json' is not a JSON file"),
])
def test_a_validator_must_be_a_json_schema(tmp_path: Path, content: str, message: str) -> None:
    data = fields()
    first(data)["validator"] = "schema.json"
    path = write_package(tmp_path / "demo", data)
    (tmp_path / "demo" / "schema.json").write_text(content)
    with pytest.raises(ConfigError) as e:
        manifest.load(path)
    assert f"connectors[0].validator: {message}" in str(e.value)


def test_a_version_given_replaces_or_supplies_the_manifests(tmp_path: Path) -> None:
    data = fields()
    del data["version"]
    path = write_package(tmp_path / "demo", data)
    assert manifest.load(path, version="v3.0.0").version == "3.0.0"
    with pytest.raises(ConfigError, match="version: 'latest' is not a semantic version"):
        manifest.load(path, version="latest")


def _spec(tmp_path: Path, validator: str | None = "schema.json") -> manifest.ConnectorSpec:
    data = fields()
    if validator:
        first(data)["validator"] = validator
    return manifest.load(write_package(tmp_path / "demo", data)).connectors[0]


def test_a_config_that_fits_the_schema_passes(tmp_path: Path) -> None:
    _spec(tmp_path).validate_config({"location": "demo://host", "port": "21"})


@pytest.mark.parametrize(("config", "message"), [
    ({"location": "demo://host", "port": "s3cret"}, "config key 'port': must satisfy pattern '^[0-9]+$'"),
    ({"location": "demo://host", "pasword": "s3cret"}, "('pasword' was unexpected)"),
    ({"port": "21"}, "'location' is a required property"),
    ({"location": "demo://host", "password": "s3cret"}, "config: must satisfy not"),
])
def test_a_config_that_breaks_the_schema_names_the_key_not_the_value(
        tmp_path: Path, config: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        _spec(tmp_path).validate_config(config)
    assert message in str(e.value)
    assert "s3cret" not in str(e.value)


def test_without_a_validator_any_config_passes(tmp_path: Path) -> None:
    _spec(tmp_path, validator=None).validate_config({"location": "demo://", "anything": "goes"})


def test_a_manifest_read_out_of_a_package_file_has_no_command_yet() -> None:
    text = yaml.safe_dump(fields())
    m = manifest.loads(text, "demo.ptar: manifest.yaml")
    assert m.folder is None
    with pytest.raises(ConfigError, match="is not installed"):
        _ = m.connectors[0].command
    with pytest.raises(ConfigError, match=r"demo.ptar: manifest.yaml: connectors\[0\].executable: '/x' is an absolute"):
        manifest.loads(text.replace("plugin.py", "/x"), "demo.ptar: manifest.yaml")


@pytest.mark.parametrize(("text", "message"), [
    ("name: [unclosed", "not valid YAML"),
    ("- a list\n- of things\n", "not a mapping of fields"),
    ("", "not a mapping of fields"),
])
def test_a_file_that_is_no_manifest_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        manifest.load(path)


def test_a_missing_manifest_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        manifest.load(tmp_path / "manifest.yaml")
