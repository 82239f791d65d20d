"""What wraps every store from the outside, so that connectors stay simple: retries and a concurrency limit.

Applied once, by :func:`kloset.registry.storage_for`, to every store built for use (backup workers
rebuild theirs from the config, and get the same). From the outside in::

    RetryingStorage    a TransientError is retried, with exponential backoff and full jitter
    LimitedStorage     at most N calls in the connector at once
    the connector

Retries are outside the limit so that a call waiting to retry does not hold a connection's place.
Both read their settings from the connector config (see docs/config.md); a wrapper keeps the inner
store's ``config``, so a store rebuilt from it is wrapped alike.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ConfigError, TransientError
from ..objects import ResourceType
from ..storage import Mode, Storage

log = logging.getLogger("kloset.storage")
T = TypeVar("T")


class StorageWrapper(Storage):
    """A store that passes every call to ``inner``; subclasses change what happens around the calls."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.protocols = inner.protocols

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    def create(self, config: bytes) -> None:
        self._call(self.inner.create, config)

    def open(self) -> bytes:
        return self._call(self.inner.open)

    def list(self, rtype: ResourceType) -> list[bytes]:
        return self._call(self.inner.list, rtype)

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        return self._call(self.inner.put, rtype, rid, data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        return self._call(self.inner.get, rtype, rid, offset, length)

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        self._call(self.inner.delete, rtype, rid)

    def ping(self) -> None:
        self._call(self.inner.ping)

    def mode(self) -> Mode:
        return self.inner.mode()

    def size(self) -> int:
        return self._call(self.inner.size)

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.inner!r}>"


class LimitedStorage(StorageWrapper):
    """At most ``limit`` calls in the inner store at once; the others wait for a place."""

    def __init__(self, inner: Storage, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        with self._slots:
            return fn(*args)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a TransientError is retried (connector keys ``retries``, ``retry_time``,
    ``retry_wait`` and ``retry_max_wait``)."""

    # Enough to ride out a dropped connection or a busy server (waits of up to 0.25, 0.5, 1, 2 and 4 s),
    # not so much that a store that is gone holds a backup for long before it fails.
    retries: int = 5  # attempts after the first
    total_seconds: float = 30.0  # no retry starts after this long since the first failure
    first_wait: float = 0.25  # the backoff's base: the n-th wait is random in [0, first_wait * 2**(n-1)]
    max_wait: float = 10.0  # the cap of one wait

    @classmethod
    def from_config(cls, config: dict[str, str]) -> RetryPolicy:
        return cls(retries=int(_number(config, "retries", cls.retries, int)),
                   total_seconds=_number(config, "retry_time", cls.total_seconds, float),
                   first_wait=_number(config, "retry_wait", cls.first_wait, float),
                   max_wait=_number(config, "retry_max_wait", cls.max_wait, float))

    def retrying(self) -> Any:
        # tenacity is loaded on the first failure only: a store that never fails never pays its import.
        from tenacity import (
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            stop_after_delay,
            wait_random_exponential,
        )

        return Retrying(stop=stop_after_attempt(self.retries + 1) | stop_after_delay(self.total_seconds),
                        wait=wait_random_exponential(multiplier=self.first_wait, max=self.max_wait),
                        retry=retry_if_exception_type(TransientError), reraise=True,
                        before_sleep=_log_retry)


class RetryingStorage(StorageWrapper):
    """Calls that raise TransientError are tried again under ``policy``; any other error is final.

    ``create`` is not retried (a create that failed on the way back may have happened, and a second one
    would fail as "exists"), nor ``ping`` (its caller wants to know now)."""

    def __init__(self, inner: Storage, policy: RetryPolicy) -> None:
        super().__init__(inner)
        self.policy = policy

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # The first try costs no more than the call: the retry machinery is built only once it fails.
        try:
            return fn(*args)
        except TransientError as e:
            return self._again(e, fn, args)

    def _again(self, failure: TransientError, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        pending = [failure]

        def attempt() -> T:
            # The call that already failed counts as the first attempt: it is re-raised, not re-run.
            if pending:
                raise pending.pop()
            return fn(*args)

        result: T = self.policy.retrying()(attempt)
        return result

    def create(self, config: bytes) -> None:
        self.inner.create(config)

    def ping(self) -> None:
        self.inner.ping()


def _log_retry(state: Any) -> None:
    outcome = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.info("retrying in %.2fs after attempt %d failed: %s", wait, state.attempt_number, outcome)


def _number(config: dict[str, str], key: str, default: float, kind: type[int] | type[float]) -> float:
    text = config.get(key)
    if text is None or text.strip() == "":
        return default
    try:
        value = kind(text)
    except ValueError as e:
        raise ConfigError(f"{key}={text!r}: expected a {'whole ' if kind is int else ''}number") from e
    if value < 0:
        raise ConfigError(f"{key}={text!r}: cannot be negative")
    return value


def concurrency_limit(storage: Storage) -> int:
    """The connector's limit on calls at once: the ``max_connections`` key, else the connector class's
    ``max_concurrency`` (0 or absent: no limit)."""
    default = int(getattr(type(storage), "max_concurrency", 0) or 0)
    return int(_number(storage.config, "max_connections", default, int))


def wrap(storage: Storage) -> Storage:
    """``storage`` with the wrappers its config asks for (see the module's docstring)."""
    limit = concurrency_limit(storage)
    policy = RetryPolicy.from_config(storage.config)
    wrapped = LimitedStorage(storage, limit) if limit > 0 else storage
    return RetryingStorage(wrapped, policy) if policy.retries > 0 else wrapped
