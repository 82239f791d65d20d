"""S3 source: the objects under a bucket's key prefix, presented as a tree of files.

Keys are split on ``/``: every key prefix is a directory, every object a regular file (mode 0644,
size and mtime from the listing's LastModified); a key that ends in ``/`` (a "folder" marker) is a
directory. The tree is rooted at ``/PREFIX``. Content is read lazily, as one streaming GET per file.
"""

from __future__ import annotations

import errno
import functools
import io
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from kloset.connectors.fs.walk import name_bytes
from kloset.errors import NotFound
from kloset.importer import Excludes, Importer, ImporterOptions, depth_first
from kloset.objects import FileInfo, Record

from .client import FOREIGN, is_missing, list_objects, make_client, parse_location, ping_bucket, translate

_FILE_MODE = stat.S_IFREG | 0o644
_DIR_MODE = stat.S_IFDIR | 0o755


@dataclass(slots=True)
class _Node:
    """A directory of the listing, or a file (an object) when ``key`` is set."""

    key: str = ""
    size: int = 0
    mtime_ns: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


class S3Importer(Importer):
    """Reads the objects of ``s3://HOST[:PORT]/BUCKET[/PREFIX]``."""

    protocols = ("s3",)
    ordered = True

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self.where = parse_location(self.config.get("location", ""))
        self._excluded = Excludes(self.options.excludes)  # a malformed pattern fails here, not in the scan
        self._client: Any = make_client(self.config, self.where)
        self._root = "/" + self.where.prefix.rstrip("/")

    @property
    def origin(self) -> str:
        # The bucket too: two buckets with the same prefix are two sources, each its own parent chain.
        return f"{self.where.endpoint}/{self.where.bucket}"

    @property
    def type(self) -> str:
        return "s3"

    @property
    def root(self) -> str:
        return self._root

    def ping(self) -> None:
        ping_bucket(self._client, self.where)

    def scan(self) -> Iterator[Record]:
        """The root first, then each directory's entries sorted by their name bytes, depth first."""
        tree = self._list()
        yield self._record(self._root, "/", tree)

        def visit(path: str, rel: str, entry: tuple[str, _Node]) -> tuple[Record, list[tuple[str, _Node]]]:
            name, node = entry
            return self._record(path, name, node), _children(node, rel, self._excluded)

        yield from depth_first(self._root, _children(tree, "", self._excluded), itemgetter(0), visit)

    def _list(self) -> _Node:
        """The tree of every object under the prefix, from one paged listing."""
        tree = _Node()
        prefix = self.where.prefix
        try:
            for obj in list_objects(self._client, self.where, prefix):
                _insert(tree, obj["Key"], obj["Key"][len(prefix):], obj["Size"],
                        int(obj["LastModified"].timestamp() * 1_000_000) * 1000)
        except FOREIGN as e:
            if is_missing(e):
                raise NotFound(f"s3: no bucket {self.where.bucket} at {self.where.endpoint}") from e
            raise translate(e, f"list {self.where}") from e
        return tree

    def _record(self, path: str, name: str, node: _Node) -> Record:
        mode = _FILE_MODE if node.key else _DIR_MODE
        record = Record(pathname=path, info=FileInfo(name, node.size, mode, node.mtime_ns, node.mtime_ns))
        if node.key:
            record.open = functools.partial(self._open, node.key)
        return record

    def _open(self, key: str) -> BinaryIO:
        """A streaming GET of the object; failures are OSErrors, which a backup records for the file."""
        try:
            body = self._client.get_object(Bucket=self.where.bucket, Key=key)["Body"]
        except ClientError as e:
            if is_missing(e):
                raise FileNotFoundError(errno.ENOENT, f"s3: vanished: {key}") from e
            raise OSError(errno.EIO, str(translate(e, f"get {key}"))) from e
        except FOREIGN as e:
            raise OSError(errno.EIO, str(translate(e, f"get {key}"))) from e
        return io.BufferedReader(_ObjectStream(body, key), buffer_size=1 << 20)

    def close(self) -> None:
        self._client.close()


class _ObjectStream(io.RawIOBase):
    """An object's body as a raw stream whose failures are OSErrors."""

    def __init__(self, body: Any, key: str) -> None:
        self._body = body
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except FOREIGN as e:
            raise OSError(errno.EIO, str(translate(e, f"read {self._key}"))) from e
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _insert(tree: _Node, key: str, rel: str, size: int, mtime_ns: int) -> None:
    """Place an object in the tree; a directory's mtime is its newest descendant's."""
    parts = rel.split("/")
    marker = rel.endswith("/")
    if marker:
        parts.pop()
    if not rel or any(p in ("", ".", "..") for p in parts):
        return  # the prefix's own marker, or a key no path can name ("a//b", "a/../b")
    node = tree
    node.mtime_ns = max(node.mtime_ns, mtime_ns)
    for part in parts[:-1]:
        node = _directory(node, part, mtime_ns)
    last = parts[-1]
    if marker:
        _directory(node, last, mtime_ns)
    elif last not in node.children:
        node.children[last] = _Node(key=key, size=size, mtime_ns=mtime_ns)


def _directory(parent: _Node, name: str, mtime_ns: int) -> _Node:
    node = parent.children.setdefault(name, _Node())
    if node.key:  # a name that is both an object and a key prefix is shown as the directory
        node.key, node.size = "", 0
    node.mtime_ns = max(node.mtime_ns, mtime_ns)
    return node


def _children(node: _Node, rel: str, excluded: Excludes) -> list[tuple[str, _Node]]:
    """A directory's entries in walk order, less the excluded ones (``rel``: the directory's path below
    the root)."""
    items = sorted(node.children.items(), key=lambda item: name_bytes(item[0]))
    return [(name, child) for name, child in items if not excluded(f"{rel}/{name}" if rel else name, not child.key)]
