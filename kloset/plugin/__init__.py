"""Plugins: connectors that run as processes of their own, spoken to over gRPC on their stdin/stdout.

``proto/`` holds the wire protocol (Plakar's v1.1.0 connector protocol), ``transport`` starts a plugin
and connects to it, ``importer``/``exporter``/``storage`` are the host-side connectors that drive one,
``manifest``/``package``/``installed`` are the packages users create, add and remove. The plugin side
is :mod:`kloset.sdk`.
"""

#: The plugin protocol this host speaks; a package names it in its manifest's ``api_version``.
API_VERSION = "v1.1.0"
