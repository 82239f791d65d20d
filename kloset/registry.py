"""Schemes -> connector classes: installed plugin packages first, then entry points of installed
distributions (kloset's own connectors among them).

Connectors register under the entry-point groups ``kloset.storage``, ``kloset.importers`` and
``kloset.exporters`` with the scheme as the name; analyzers under ``kloset.analyzers`` and viewers
under ``kloset.viewers``, by their own name. kloset imports no plugin by name. A plugin package added
with ``kloset pkg add`` serves its protocols in place of any connector of the same scheme, until
``kloset pkg rm`` gives that one back.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from .analyzer import Analyzer
from .errors import ConfigError, KlosetError
from .exporter import Exporter
from .importer import Importer
from .location import scheme_of
from .repository.backends import wrap
from .storage import Storage

GROUPS = {"storage": "kloset.storage", "importer": "kloset.importers", "exporter": "kloset.exporters",
          "viewer": "kloset.viewers", "analyzer": "kloset.analyzers"}


@cache
def _classes(kind: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for ep in entry_points(group=GROUPS[kind]):
        found.setdefault(ep.name, ep)
    return found


def connector_class(kind: str, scheme: str, base: Any) -> Any:
    """The class registered as ``scheme`` (a connector's scheme, an analyzer's name) in ``kind``'s group,
    or the installed plugin that serves it."""
    if kind in _PLUGIN_KINDS:
        plugin = _plugin_class(kind, scheme)
        if plugin is not None:
            return plugin
    label = f"analyzer {scheme!r}" if kind == "analyzer" else f"{kind} connector for scheme {scheme!r}"
    ep = _classes(kind).get(scheme)
    if ep is None:
        known = ", ".join(schemes(kind)) or "none"
        raise ConfigError(f"no {label} (known: {known})")
    try:
        cls = ep.load()  # type: ignore[attr-defined]
    except ImportError as e:  # most often an optional dependency left out: the user can fix that
        hint = " (kloset's own analyzers need: pip install 'kloset[gdpr]')" if kind == "analyzer" else ""
        raise ConfigError(f"the {label} needs {e.name or 'a module'}, which is not installed{hint}") from e
    except Exception as e:  # an installed plugin that fails to import is the plugin's fault
        raise KlosetError(f"the {label} failed to load: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"the {label} is not a {base.__name__}")
    return cls


def _plugin_class(kind: str, scheme: str) -> Any:
    from .plugin.installed import find  # a listing of the plugins folder: no gRPC until one is used

    found = find(kind, scheme)
    if found is None:
        return None
    from .plugin.launch import Launch, bound_class

    spec = found.spec
    name = f"{found.package}/{kind}"
    launch = Launch(name, list(spec.command), spec.flags, spec.validate_config)
    return bound_class(kind, name, launch, scheme)


_PLUGIN_KINDS = ("storage", "importer", "exporter")


def schemes(kind: str, *, plugins: bool = True) -> list[str]:
    """The schemes (or names) ``kind`` has, installed plugins' included unless ``plugins`` is False."""
    names = set(_classes(kind))
    if plugins and kind in _PLUGIN_KINDS:
        from .plugin.installed import schemes as plugin_schemes

        names.update(plugin_schemes(kind))
    return sorted(names)


def storage_for(config: dict[str, str]) -> Storage:
    """The store a connector config names, ready for use: with retries and its concurrency limit."""
    cls: type[Storage] = connector_class("storage", scheme_of(config["location"]), Storage)
    return wrap(cls(config))


def importer_class(location: str) -> type[Importer]:
    cls: type[Importer] = connector_class("importer", scheme_of(location), Importer)
    return cls


def exporter_for(config: dict[str, str]) -> Exporter:
    cls: type[Exporter] = connector_class("exporter", scheme_of(config["location"]), Exporter)
    return cls(config)


def viewer(name: str) -> Any:
    """A viewer module (``sql``, ...) by its entry-point name."""
    ep = _classes("viewer").get(name)
    if ep is None:
        raise ConfigError(f"the {name} viewer is not installed (pip install 'kloset[{name}]')")
    try:
        return ep.load()  # type: ignore[attr-defined]
    except ImportError as e:
        raise ConfigError(f"the {name} viewer needs what it is missing: {e} (pip install 'kloset[{name}]')") from e


def analyzer_class(name: str) -> type[Analyzer]:
    """An installed analyzer by name (``gdpr``, ``email``...)."""
    cls: type[Analyzer] = connector_class("analyzer", name, Analyzer)
    return cls
