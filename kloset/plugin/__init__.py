"""Plugins: connectors that run as processes of their own, spoken to over gRPC on their stdin/stdout.

``proto/`` holds the wire protocol (Plakar's v1.1.0 connector protocol) and its generated modules;
``http2`` carries gRPC over the pipe, ``wire`` converts records and errors, ``transport`` starts a plugin
and makes calls (and serves them, for :mod:`kloset.sdk`); ``launch`` is how the host starts one for a
connector instance, and ``importer``/``exporter``/``storage`` are the host-side connectors that drive
one. ``manifest``/``package``/``installed`` are the packages users create, add and remove.
"""

#: The plugin protocol this host speaks; a package names it in its manifest's ``api_version``.
API_VERSION = "v1.1.0"
