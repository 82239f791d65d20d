"""How the host starts a plugin for one connector instance: the command, the name errors give, the config
it is handed."""

from __future__ import annotations

import os
import platform
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..importer import ImporterOptions, LocationFlags
from ..location import has_scheme, scheme_of
from .transport import DEFAULT_TIMEOUT, Plugin

#: Connector config keys that belong to the host (its store wrappers, this module), never sent to a plugin.
HOST_KEYS = frozenset({"retries", "retry_time", "retry_wait", "retry_max_wait", "max_connections", "cache_size",
                       "plugin_timeout"})


@dataclass(frozen=True)
class Launch:
    """A plugin connector as the host knows it: ``name`` (``package/type``) for messages, the ``command``
    that starts it, the location flags its package declares, and a check of its config keys."""

    name: str
    command: list[str]
    flags: LocationFlags = LocationFlags.NONE
    validate: Callable[[dict[str, str]], None] | None = field(default=None, compare=False)

    def start(self, config: dict[str, str]) -> tuple[Plugin, dict[str, str], str]:
        """Start the plugin; return it, the config to send it and the protocol (the location's scheme)."""
        sent = {k: v for k, v in config.items() if k not in HOST_KEYS}
        location = sent.get("location", "")
        if self.flags & LocationFlags.LOCALFS and not has_scheme(location) and location:
            # The plugin runs in the host's folder, but a path it records must not depend on that.
            sent["location"] = os.path.abspath(os.path.expanduser(location))
        if self.validate is not None:
            self.validate(sent)
        return Plugin(self.name, self.command, _timeout(config)), sent, scheme_of(location)


def _timeout(config: dict[str, str]) -> float:
    text = config.get("plugin_timeout", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise ConfigError(f"plugin_timeout: {text!r} is not a positive number of seconds")
    return value


def options_fields(options: ImporterOptions) -> dict[str, object]:
    """The protocol's Options of an importer (or exporter) as message fields."""
    return {"hostname": options.hostname or socket.gethostname(), "os": sys.platform, "arch": platform.machine(),
            "cwd": options.cwd or os.getcwd(), "maxconcurrency": options.max_concurrency,
            "excludes": list(options.excludes), "noxattr": options.no_xattr}


def bound_class(kind: str, name: str, launch: Launch, scheme: str) -> type:
    """The connector class of one plugin connector, made like any other connector: ``cls(config, ...)``."""
    from .exporter import PluginExporter
    from .importer import PluginImporter
    from .storage import PluginStorage

    base: type = {"importer": PluginImporter, "exporter": PluginExporter, "storage": PluginStorage}[kind]
    return type(f"{base.__name__}[{name}]", (base,), {"launch": launch, "protocols": (scheme,),
                                                      "__module__": base.__module__})
