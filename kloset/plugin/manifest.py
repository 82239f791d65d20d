"""manifest.yaml: what a plugin package is, which schemes its connectors serve and how to start them.

Reading a manifest checks all of it and reports every mistake at once, one line each naming its field,
so that a package author fixes them in one go. Paths in a manifest are relative to the folder holding
it and must stay inside it, symlinks resolved: an installed package can never name a file elsewhere.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, NotFound
from ..importer import LocationFlags
from . import API_VERSION

#: The plugin protocol versions this host speaks.
API_VERSIONS = (API_VERSION,)
KINDS = ("importer", "exporter", "storage")
FILENAME = "manifest.yaml"

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\Z")  # RFC 3986, section 3.1
_SEMVER = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
    r"(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?\Z")
#: The manifest's names of the location flags (PROTOCOL.md), lowercase.
FLAGS = {name.lower(): flag for name, flag in LocationFlags.__members__.items() if flag}
_TEXTS = ("display_name", "description", "homepage", "license", "tier", "contact")
_FIELDS = frozenset({"name", "version", "api_version", "tags", "connectors", *_TEXTS})
#: The JSON Schema keywords whose messages about the whole config name keys, never values.
_NAMING_KEYS_ONLY = frozenset({"required", "additionalProperties", "dependentRequired"})
_CONNECTOR_FIELDS = frozenset({"type", "class", "subclass", "protocols", "location_flags", "executable", "args",
                               "extra_files", "validator"})


@dataclass(frozen=True)
class ConnectorSpec:
    """One connector of a package: the schemes it serves for its kind, and the program that runs it."""

    type: str  # importer, exporter or storage
    protocols: tuple[str, ...]
    executable: str  # relative to the package folder
    args: tuple[str, ...] = ()
    location_flags: tuple[str, ...] = ()
    extra_files: tuple[str, ...] = ()
    validator: str = ""  # a JSON Schema of the connector's config keys, relative to the package folder
    class_name: str = ""
    subclass: str = ""
    folder: Path | None = None  # the package folder; None for a manifest read out of a .ptar

    @property
    def flags(self) -> LocationFlags:
        return functools.reduce(operator.or_, (FLAGS[f] for f in self.location_flags), LocationFlags(0))

    @property
    def command(self) -> list[str]:
        """The argv that starts the connector. A ``.py`` executable runs under this interpreter, which
        has :mod:`kloset.sdk`, so a Python plugin needs no interpreter of its own nor a shebang."""
        exe = str(self._folder() / self.executable)
        return [sys.executable, exe, *self.args] if exe.endswith(".py") else [exe, *self.args]

    def validate_config(self, config: dict[str, str]) -> None:
        """Check a connector config (``location`` included) against the package's JSON Schema, if any.

        The ConfigError names each key at fault and the rule it breaks, never the value: values can be
        passwords."""
        if not self.validator:
            return
        from jsonschema.validators import validator_for

        schema = json.loads((self._folder() / self.validator).read_text())
        errors = sorted(validator_for(schema)(schema).iter_errors(config), key=lambda e: list(e.path))
        if errors:
            lines = [f"config key {e.path[0]!r}: must satisfy {e.validator} {e.validator_value!r}" if e.path
                     else f"config: {e.message}" if e.validator in _NAMING_KEYS_ONLY
                     else f"config: must satisfy {e.validator}" for e in errors]
            raise ConfigError(f"{self.type} for {self.protocols[0]}://: " + "; ".join(lines))

    def _folder(self) -> Path:
        if self.folder is None:
            raise ConfigError(f"the {self.type} for {self.protocols[0]}:// is not installed")
        return self.folder


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str  # semantic version, without the ``v``
    api_version: str
    connectors: tuple[ConnectorSpec, ...]
    display_name: str = ""
    description: str = ""
    homepage: str = ""
    license: str = ""
    tier: str = ""
    contact: str = ""
    tags: tuple[str, ...] = ()
    folder: Path | None = None

    @property
    def filename(self) -> str:
        """The name of the package file: ``NAME-vVERSION.ptar``."""
        return f"{self.name}-v{self.version}.ptar"


def load(path: str | os.PathLike[str], version: str | None = None) -> Manifest:
    """Read and check a manifest.yaml in its package folder; ``version`` replaces the one it names."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as e:
        raise NotFound(f"{path}: no such file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot be read: {e}") from e
    return loads(text, str(path), path.absolute().parent.resolve(), version)


def loads(text: str, source: str, folder: Path | None = None, version: str | None = None) -> Manifest:
    """Check a manifest's text. Without ``folder``, paths are checked by their spelling only."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: not a mapping of fields")
    if version is not None:
        data["version"] = version
    mistakes: list[str] = [f"{key}: unknown field" for key in data if key not in _FIELDS]
    name = _text(data, "name", "", mistakes, required=True)
    if name and not NAME_PATTERN.match(name):
        mistakes.append(f"name: {name!r} is not a safe name (lowercase letters, digits, '_' and '-', "
                        "starting with a letter or digit)")
    ver = _text(data, "version", "", mistakes, required=True)
    if ver and not _SEMVER.match(ver):
        mistakes.append(f"version: {ver!r} is not a semantic version (1.2.3 or v1.2.3)")
    api = _text(data, "api_version", "", mistakes, required=True)
    if api and api not in API_VERSIONS:
        mistakes.append(f"api_version: {api!r} is not spoken by this kloset (it speaks {', '.join(API_VERSIONS)})")
    texts = {key: _text(data, key, "", mistakes) for key in _TEXTS}
    tags = _strings(data, "tags", "", mistakes)
    specs = _connectors(data.get("connectors"), folder, mistakes)
    if mistakes:
        raise ConfigError("\n".join(f"{source}: {m}" for m in mistakes))
    return Manifest(name=name, version=ver.removeprefix("v"), api_version=api, connectors=specs, tags=tags,
                    folder=folder, **texts)


def _connectors(value: Any, folder: Path | None, mistakes: list[str]) -> tuple[ConnectorSpec, ...]:
    if value is None:
        mistakes.append("connectors: missing")
        return ()
    if not isinstance(value, list) or not value:
        mistakes.append("connectors: must be a non-empty list")
        return ()
    specs = tuple(_connector(c, f"connectors[{i}].", folder, mistakes) for i, c in enumerate(value))
    served: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(specs):
        for p in spec.protocols:
            j = served.setdefault((spec.type, p), i)
            if j != i:
                mistakes.append(f"connectors[{i}].protocols: {p!r} is already served by the {spec.type} of "
                                f"connectors[{j}]")
    return specs


def _connector(c: Any, at: str, folder: Path | None, mistakes: list[str]) -> ConnectorSpec:
    if not isinstance(c, dict):
        mistakes.append(f"{at[:-1]}: must be a mapping of fields")
        return ConnectorSpec("", (), "")
    mistakes += [f"{at}{key}: unknown field" for key in c if key not in _CONNECTOR_FIELDS]
    kind = _text(c, "type", at, mistakes, required=True)
    if kind and kind not in KINDS:
        mistakes.append(f"{at}type: {kind!r} is not one of {', '.join(KINDS)}")
    protocols = tuple(p.lower() for p in _strings(c, "protocols", at, mistakes, required=True))
    for p in protocols:
        if not _SCHEME.match(p):
            mistakes.append(f"{at}protocols: {p!r} is not a URL scheme (a letter, then letters, digits, '+-.')")
    if len(set(protocols)) != len(protocols):
        mistakes.append(f"{at}protocols: a protocol is listed twice")
    flags = tuple(f.lower() for f in _strings(c, "location_flags", at, mistakes))
    mistakes += [f"{at}location_flags: {f!r} is not one of {', '.join(FLAGS)}" for f in flags if f not in FLAGS]
    executable = _text(c, "executable", at, mistakes, required=True)
    if executable:
        _inside(folder, executable, f"{at}executable", mistakes, program=True)
    extra = _strings(c, "extra_files", at, mistakes)
    for j, name in enumerate(extra):
        _inside(folder, name, f"{at}extra_files[{j}]", mistakes)
    validator = _text(c, "validator", at, mistakes)
    if validator and (schema := _inside(folder, validator, f"{at}validator", mistakes)) is not None:
        _check_schema(schema, validator, f"{at}validator", mistakes)
    return ConnectorSpec(type=kind, protocols=protocols, executable=executable, args=_strings(c, "args", at, mistakes),
                         location_flags=flags, extra_files=extra, validator=validator, folder=folder,
                         class_name=_text(c, "class", at, mistakes), subclass=_text(c, "subclass", at, mistakes))


def _inside(folder: Path | None, name: str, at: str, mistakes: list[str], program: bool = False) -> Path | None:
    """The file a manifest path names, when it stays inside the package folder and exists."""
    if os.path.isabs(name):
        mistakes.append(f"{at}: {name!r} is an absolute path (paths are relative to the package folder)")
        return None
    if os.path.normpath(name).split(os.sep)[0] == os.pardir:
        mistakes.append(f"{at}: {name!r} leaves the package folder")
        return None
    if folder is None:
        return None
    path = folder / name
    if not path.resolve().is_relative_to(folder.resolve()):
        mistakes.append(f"{at}: {name!r} leaves the package folder (through a symlink)")
    elif not path.exists():
        mistakes.append(f"{at}: {name!r} does not exist in the package folder")
    elif program and not path.is_file():
        mistakes.append(f"{at}: {name!r} is not a regular file")
    elif program and not name.endswith(".py") and not os.access(path, os.X_OK):
        mistakes.append(f"{at}: {name!r} is not executable (chmod +x it, or name a .py file)")
    else:
        return path
    return None


def _check_schema(path: Path, name: str, at: str, mistakes: list[str]) -> None:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        schema = json.loads(path.read_text())
        if isinstance(schema, dict):
            validator_for(schema).check_schema(schema)
        elif not isinstance(schema, bool):  # true and false are whole schemas too
            raise SchemaError(f"a schema is an object or a boolean, not {type(schema).__name__}")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        mistakes.append(f"{at}: {name!r} is not a JSON file: {e}")
    except SchemaError as e:
        mistakes.append(f"{at}: {name!r} is not a valid JSON Schema: {e.message}")


def _text(data: dict[str, Any], key: str, at: str, mistakes: list[str], required: bool = False) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required:
            mistakes.append(f"{at}{key}: missing")
        return ""
    if not isinstance(value, str):
        mistakes.append(f"{at}{key}: must be a string, not {type(value).__name__} {value!r}")
        return ""
    return value


def _strings(data: dict[str, Any], key: str, at: str, mistakes: list[str], required: bool = False) -> tuple[str, ...]:
    value = data.get(key)
    if value is None or value == []:
        if required:
            mistakes.append(f"{at}{key}: missing")
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        mistakes.append(f"{at}{key}: must be a list of strings")
        return ()
    return tuple(value)
