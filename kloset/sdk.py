"""Writing a plugin: a connector class, as it runs in-process, served over the plugin protocol.

A plugin's main is one call::

    from kloset.sdk import run_importer
    from mypackage.importer import MyImporter

    run_importer(MyImporter)

``run_importer``, ``run_exporter`` and ``run_storage`` take the class (or any factory called as the class
would be: ``(config, options)`` for an importer, ``(config)`` for the others), serve it on stdin/stdout
until the host closes them, and return. The connector is made by the host's ``Init``; its typed errors
(kloset.errors) reach the host as the same types. Anything the connector prints goes to stderr, which
the host passes through to the user. See docs/plugins.md.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from .buffers import Parts
from .errors import ConfigError, KlosetError, NotFound
from .exporter import Exporter
from .importer import Importer, ImporterOptions, LocationFlags
from .objects import FileInfo, ResourceType
from .plugin.http2 import CallError, message
from .plugin.proto import connectors_pb2 as cpb
from .plugin.proto import exporter_pb2, importer_pb2, store_pb2
from .plugin.transport import CHUNK, Framed, Handler, serve
from .plugin.wire import (
    ORDERED,
    chunk_encoder,
    file_info,
    fill_file_info,
    record_key,
    result_error,
    service_path,
    utf8,
    xattr_key,
)
from .storage import Storage

__all__ = ["package", "run", "run_exporter", "run_importer", "run_storage"]

_OPEN = service_path(importer_pb2, "Importer") + "Open"
_INIT = service_path(importer_pb2, "Importer") + "Init"
_GROUP = 128  # parts of records framed together: 64 records
_open_response = chunk_encoder(importer_pb2.OpenResponse)
_get_response = chunk_encoder(store_pb2.GetResponse)

ImporterFactory = Callable[[dict[str, str], ImporterOptions], Importer]
ExporterFactory = Callable[[dict[str, str]], Exporter]
StorageFactory = Callable[[dict[str, str]], Storage]


def run_importer(factory: ImporterFactory) -> None:
    service = _Importer(factory)
    serve(_handlers(service, importer_pb2, "Importer", {"Import": "bidi", "Open": "server"}),
          inline=service.inline, metadata=service.metadata)


def run_exporter(factory: ExporterFactory) -> None:
    serve(_handlers(_Exporter(factory), exporter_pb2, "Exporter", {"Export": "bidi"}))


def run_storage(factory: StorageFactory) -> None:
    serve(_handlers(_Storage(factory), store_pb2, "Store", {"Put": "client", "Get": "server"}))


def _handlers(service: object, module: Any, name: str, kinds: dict[str, str]) -> dict[str, Handler]:
    """The call table of ``service``: each RPC of the protocol's service ``name`` to the method of that
    name, with its request type from the generated module."""
    out: dict[str, Handler] = {}
    for method in module.DESCRIPTOR.services_by_name[name].methods:
        request = getattr(module, method.input_type.name)
        out[service_path(module, name) + method.name] = (kinds.get(method.name, "unary"),
                                                         getattr(service, method.name), request.FromString)
    return out


def run(main_file: str, **connectors: str) -> None:
    """The main of a plugin folder that serves several connectors, one per process, chosen by the first
    argument (the manifest's ``args``): ``run(__file__, importer="importer:FTPImporter",
    exporter="exporter:FTPExporter")`` serves ``FTPImporter`` of the folder's ``importer`` module for
    ``plugin.py importer``. Classes are taken from the folder itself (see :func:`package`)."""
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in connectors:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(connectors)}")
    module, _, name = connectors[kind].partition(":")
    cls = getattr(importlib.import_module(f"{package(main_file).__name__}.{module}"), name)
    runners: dict[str, Callable[[Any], None]] = {"importer": run_importer, "exporter": run_exporter,
                                                 "storage": run_storage}
    runners[kind](cls)


def package(main_file: str) -> ModuleType:
    """The folder holding ``main_file`` imported as a package of its own (named after the folder), so
    that a plugin's main runs the connector modules shipped beside it, whatever else is installed."""
    folder = os.path.dirname(os.path.abspath(main_file))
    name = "kloset_plugin_" + re.sub(r"\W", "_", os.path.basename(folder))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    if spec is None or spec.loader is None:
        raise ConfigError(f"{folder} is not a Python package (no __init__.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _options(m: importer_pb2.Options) -> ImporterOptions:
    return ImporterOptions(hostname=m.hostname, cwd=m.cwd, max_concurrency=m.maxconcurrency,
                           excludes=list(m.excludes), no_xattr=m.noxattr)


class _Importer:
    def __init__(self, factory: ImporterFactory) -> None:
        self._factory = factory
        self._importer: Importer | None = None
        # What Open serves: a file's opener, or an attribute's value, kept until opened or acknowledged.
        self._readers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def inline(self, path: str) -> bool:
        """Whether a call is served on the connection's thread: a quick local read is (Importer.reads_block)."""
        return path == _OPEN and self._importer is not None and not self._importer.reads_block

    def metadata(self, path: str) -> dict[str, str]:
        """What Init's reply tells a kloset host beyond the protocol (see wire.ORDERED)."""
        return {ORDERED: "1"} if path == _INIT and self._importer is not None and self._importer.ordered else {}

    @property
    def importer(self) -> Importer:
        if self._importer is None:
            raise ConfigError("the host called the importer before Init")
        return self._importer

    def Init(self, request: Any) -> importer_pb2.InitResponse:
        config = dict(request.config)
        self._importer = imp = self._factory(config, _options(request.options))
        return importer_pb2.InitResponse(origin=imp.origin, type=imp.type, root=imp.root, flags=int(imp.flags))

    def Ping(self, request: Any) -> importer_pb2.PingResponse:
        self.importer.ping()
        return importer_pb2.PingResponse()

    def Import(self, requests: Iterator[Any]) -> Iterator[importer_pb2.ImportResponse | Framed]:
        acks = threading.Thread(target=self._acknowledged, args=(requests,), daemon=True)
        acks.start()
        importer = self.importer
        no_xattr = importer.options.no_xattr
        # A quick scan's records go out a batch at a time, in one write each. Not a scan that waits (the
        # host would wait on records held back) nor one that wants acknowledgements (it may hold back
        # its next records until the host answers the ones held here).
        grouped = not importer.scan_blocks and not importer.flags & LocationFlags.NEEDACK
        group = Framed()
        for rec in importer.scan():
            if not grouped:
                yield from self._messages(rec, no_xattr)
                continue
            for m in self._messages(rec, no_xattr):
                group += message(m.SerializeToString())
            if len(group) >= _GROUP:
                yield group
                group = Framed()
        if group:
            yield group
        yield importer_pb2.ImportResponse(finished=True)
        if self.importer.flags & LocationFlags.NEEDACK:
            # The acknowledgements come on this call: it lasts until the host has read what it wants.
            acks.join()

    def _messages(self, rec: Any, no_xattr: bool) -> Iterator[importer_pb2.ImportResponse]:
        path = rec.pathname
        if not utf8(path) or not utf8(rec.target):
            shown = path.encode(errors="surrogateescape").decode(errors="replace")
            yield importer_pb2.ImportResponse(record=cpb.Record(
                pathname=shown, error="the name is not valid UTF-8, which the plugin protocol cannot carry"))
            return
        response = importer_pb2.ImportResponse()
        m = response.record
        m.pathname = path
        if rec.target:
            m.target = rec.target
        if rec.error:
            m.error = rec.error
        if rec.info is not None:
            fill_file_info(m.fileInfo, rec.info)
        xattrs = {} if no_xattr or rec.error else rec.get_xattrs()
        if rec.open is not None and rec.error is None:
            m.hasReader = True
            with self._lock:
                self._readers[path] = rec.open
        if xattrs:
            m.extendedAttributes.extend(xattrs)
        yield response
        for name, value in xattrs.items():
            with self._lock:
                self._readers[xattr_key(path, name)] = value
            yield importer_pb2.ImportResponse(record=cpb.Record(
                pathname=path, isXattr=True, xattrName=name, hasReader=True,
                xattrType=cpb.EXTENDED_ATTRIBUTE_TYPE_EXTENDED))

    def _acknowledged(self, requests: Iterator[Any]) -> None:
        """The host is done with these records: their readers can go."""
        with contextlib.suppress(KlosetError, CallError):  # the stream ended
            for request in requests:
                header = request.result.header
                with self._lock:
                    self._readers.pop(record_key(header), None)

    def Open(self, request: Any) -> Iterator[Parts]:
        key = record_key(request.record)
        with self._lock:
            reader = self._readers.pop(key, None)
        if reader is None:
            raise NotFound(f"{key}: no content to open (opened already, or never listed)")
        if isinstance(reader, bytes):
            yield _open_response(reader)
            return
        with reader() as f:
            while chunk := f.read(CHUNK):
                yield _open_response(chunk)

    def Close(self, request: Any) -> importer_pb2.CloseResponse:
        self._readers.clear()
        if self._importer is not None:
            self._importer.close()
        return importer_pb2.CloseResponse()


class _Exporter:
    def __init__(self, factory: ExporterFactory) -> None:
        self._factory = factory
        self._exporter: Exporter | None = None

    @property
    def exporter(self) -> Exporter:
        if self._exporter is None:
            raise ConfigError("the host called the exporter before Init")
        return self._exporter

    def Init(self, request: Any) -> exporter_pb2.InitResponse:
        self._exporter = exp = self._factory(dict(request.config))
        return exporter_pb2.InitResponse(origin=exp.location, type=(exp.protocols or ("",))[0], root=exp.root)

    def Ping(self, request: Any) -> exporter_pb2.PingResponse:
        self.exporter.ping()
        return exporter_pb2.PingResponse()

    def Export(self, requests: Iterator[Any]) -> Iterator[exporter_pb2.ExportResponse]:
        # Directories get their attributes once everything is written, deepest first (as a restore does).
        dirs: list[tuple[str, FileInfo]] = []
        requests = iter(requests)
        for request in requests:
            rec = request.record
            content = _content(requests) if rec.hasReader else None
            error = ""
            try:
                self._entry(rec, content, dirs)
            except (KlosetError, OSError) as e:
                error = result_error(e)
            finally:
                for _ in content or ():  # what the exporter did not read of a failed file
                    pass
            yield exporter_pb2.ExportResponse(result=cpb.Result(header=rec, error=error))
        for path, info in sorted(dirs, key=lambda d: d[0].count("/"), reverse=True):
            self.exporter.set_attributes(path, info, {})

    def _entry(self, rec: Any, content: Iterator[bytes] | None, dirs: list[tuple[str, FileInfo]]) -> None:
        path = rec.pathname.removeprefix("/")  # one: what is left is the path the host's restore gave
        info = file_info(rec.fileInfo)
        exp = self.exporter
        if rec.isXattr:
            exp.set_attributes(path, info, {rec.xattrName: b"".join(content or ())})
            return
        kind = info.type.value
        if kind == "dir":
            if path:
                exp.mkdir(path, info)
            dirs.append((path, info))
            return
        if kind == "file":
            exp.write_file(path, info, content or iter(()))
        elif kind == "symlink":
            exp.symlink(path, rec.target, info)
        else:
            exp.special(path, info)
        exp.set_attributes(path, info, {})

    def Close(self, request: Any) -> exporter_pb2.CloseResponse:
        if self._exporter is not None:
            self._exporter.close()
        return exporter_pb2.CloseResponse()


def _content(requests: Iterator[Any]) -> Iterator[bytes]:
    """A file's chunks from the export stream, up to the empty chunk that ends it."""
    for request in requests:
        if not request.chunk:
            return
        yield request.chunk


class _Storage:
    def __init__(self, factory: StorageFactory) -> None:
        self._factory = factory
        self._store: Storage | None = None

    @property
    def store(self) -> Storage:
        if self._store is None:
            raise ConfigError("the host called the store before Init")
        return self._store

    def Init(self, request: Any) -> store_pb2.InitResponse:
        self._store = st = self._factory(dict(request.config))
        return store_pb2.InitResponse(origin=st.location, type=(st.protocols or ("",))[0], root=st.location)

    def Create(self, request: Any) -> store_pb2.CreateResponse:
        self.store.create(request.config)
        return store_pb2.CreateResponse()

    def Open(self, request: Any) -> store_pb2.OpenResponse:
        return store_pb2.OpenResponse(config=self.store.open())

    def Ping(self, request: Any) -> store_pb2.PingResponse:
        self.store.ping()
        return store_pb2.PingResponse()

    def Mode(self, request: Any) -> store_pb2.ModeResponse:
        return store_pb2.ModeResponse(mode=int(self.store.mode()))

    def Size(self, request: Any) -> store_pb2.SizeResponse:
        return store_pb2.SizeResponse(size=self.store.size())

    def List(self, request: Any) -> store_pb2.ListResponse:
        return store_pb2.ListResponse(macs=self.store.list(_resource(request.type)))

    def Put(self, requests: Iterator[Any]) -> store_pb2.PutResponse:
        head = next(requests)
        data = b"".join(r.chunk for r in requests)
        return store_pb2.PutResponse(bytes_written=self.store.put(_resource(head.type), head.mac, data))

    def Get(self, request: Any) -> Iterator[Parts]:
        if request.HasField("range"):
            data = self.store.get(_resource(request.type), request.mac, request.range.offset, request.range.length)
        else:
            data = self.store.get(_resource(request.type), request.mac)
        view = memoryview(data)
        for at in range(0, max(len(view), 1), CHUNK):
            yield _get_response(view[at:at + CHUNK])

    def Delete(self, request: Any) -> store_pb2.DeleteResponse:
        self.store.delete(_resource(request.type), request.mac)
        return store_pb2.DeleteResponse()

    def Close(self, request: Any) -> store_pb2.CloseResponse:
        if self._store is not None:
            self._store.close()
        return store_pb2.CloseResponse()


def _resource(value: int) -> ResourceType:
    try:
        return ResourceType(value)
    except ValueError:
        raise ConfigError(f"this store keeps no resources of type {value}") from None
