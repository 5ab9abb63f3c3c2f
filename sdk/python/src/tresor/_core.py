"""What the sync and the async client share: the requests an operation makes, how an answer
becomes a result or an exception, when to retry, and the read cache.

An operation is a generator that yields :class:`Call` s and is sent back :class:`Answer` s; the
two clients differ only in how they send a call and how they wait between tries.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Generator, Iterator, Optional, Tuple, Union

import httpx

from ._config import Settings
from ._errors import Timeout, TransportError, TresorError, error_for

log = logging.getLogger("tresor")


@dataclass(frozen=True)
class Call:
    """One request. ``body`` may hold a value, so it is left out of ``repr``."""

    method: str
    path: str
    body: Any = field(default=None, repr=False)
    params: Optional[Dict[str, str]] = None
    #: The request changes nothing (a read sent as POST, ``/resolve``); GET requests always.
    reads_only: bool = False

    @property
    def changes_nothing(self) -> bool:
        return self.reads_only or self.method in ("GET", "HEAD")


@dataclass(frozen=True)
class Answer:
    """A response. ``doc`` may hold values, so it is left out of ``repr``."""

    status: int
    doc: Any = field(repr=False)
    retry_after: Optional[float] = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def kind(self) -> Optional[str]:
        return self.doc.get("kind") if isinstance(self.doc, dict) else None

    def error(self) -> TresorError:
        message = self.doc.get("error") if isinstance(self.doc, dict) else None
        return error_for(self.status, self.kind, message, self.retry_after)

    def expect_ok(self) -> Any:
        """The document of a successful answer; the typed exception otherwise."""
        if not self.ok:
            raise self.error()
        return self.doc

    def is_missing(self) -> bool:
        """A 404 that says `not_found` (or says nothing, as a proxy would)."""
        return self.status == 404 and self.kind in (None, "not_found")


Op = Generator[Call, Answer, Any]


def _retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def answer_of(resp: httpx.Response) -> Answer:
    """The status and JSON document of a response (``None`` for an empty or non-JSON body)."""
    doc: Any = None
    if resp.content:
        try:
            doc = resp.json()
        except ValueError:
            doc = None
    return Answer(resp.status_code, doc, _retry_after(resp.headers.get("Retry-After")))


_RETRYABLE_STATUS = (429, 503)


class Retrier:
    """Decides, for one call, whether to try again and how long to wait first.

    Connection failures (the request never reached the server), 429 answers (refused before
    anything was done) and, for requests that change nothing, 503 answers are retried, up to
    ``retries`` times, with exponential backoff and jitter, or the ``Retry-After`` the
    server gave; never past ``max_retry_wait`` seconds of waiting in all. A timeout while waiting
    for the answer is not retried: the server may have acted on the request. Nor is a 503 to a
    change: the database may have gone away around its commit, so it may have landed.
    """

    def __init__(self, settings: Settings, call: Call) -> None:
        self.settings = settings
        self.call = call
        self.tries = 0
        self.waited = 0.0

    def _next_wait(self, asked: Optional[float]) -> Optional[float]:
        s = self.settings
        if self.tries >= s.retries:
            return None
        if asked is None:
            asked = s.backoff * (2**self.tries) * (0.5 + random.random() / 2)
        if self.waited + asked > s.max_retry_wait:
            return None
        self.tries += 1
        self.waited += asked
        return asked

    def after_answer(self, answer: Answer) -> Optional[float]:
        """``None`` when ``answer`` is final, else the seconds to wait before trying again."""
        if answer.status not in _RETRYABLE_STATUS or (answer.status == 503 and not self.call.changes_nothing):
            return None
        wait = self._next_wait(answer.retry_after)
        if wait is not None:
            log.info(
                "%s %s answered %d, retrying in %.2f s", self.call.method, self.call.path, answer.status, wait
            )
        return wait

    def after_failure(self, exc: httpx.TransportError) -> float:
        """The seconds to wait before trying again; raises the client's error when giving up."""
        retryable = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
        wait = self._next_wait(None) if retryable else None
        if wait is None:
            raise self._transport_error(exc) from None
        log.info(
            "%s %s failed (%s), retrying in %.2f s", self.call.method, self.call.path, type(exc).__name__, wait
        )
        return wait

    def _transport_error(self, exc: httpx.TransportError) -> TransportError:
        addr = self.settings.addr
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(f"no answer from the tresor server at {addr} within {self.settings.timeout} s ({detail})")
        if addr.startswith("https://") and "certificate" in detail.lower():
            detail += " (for a server with a private CA, pass ca_cert= or set TRESOR_CACERT to the CA's PEM file)"
        return TransportError(f"cannot reach the tresor server at {addr}: {detail}")


Got = Union[httpx.Response, httpx.TransportError, None]


def steps(settings: Settings, op: Op) -> Generator[Tuple[float, Call], Got, Any]:
    """Runs ``op`` with the retries: yields ``(wait, call)``, the seconds to sleep and then the
    call to send, and is sent the response (or the transport error); returns ``op``'s result."""
    try:
        call = next(op)
        while True:
            retrier, wait = Retrier(settings, call), 0.0
            while True:
                got = yield wait, call
                if isinstance(got, httpx.TransportError):
                    wait = retrier.after_failure(got)
                    continue
                assert got is not None
                answer = answer_of(got)
                log.debug("%s %s -> %d", call.method, call.path, answer.status)
                again = retrier.after_answer(answer)
                if again is None:
                    break
                wait = again
            call = op.send(answer)
    except StopIteration as done:
        return done.value


class Plan:
    """How both clients run an operation: iterating gives ``(wait, call)``; sleep ``wait``
    seconds, send ``call``, hand :meth:`answer` the response or the transport error. ``result``
    is the operation's once the iteration ends; its exceptions come out of the iteration."""

    def __init__(self, settings: Settings, op: Op) -> None:
        self._steps = steps(settings, op)
        self._got: Got = None
        self.result: Any = None

    def __iter__(self) -> Iterator[Tuple[float, Call]]:
        while True:
            try:
                step = self._steps.send(self._got)
            except StopIteration as done:
                self.result = done.value
                return
            self._got = None
            yield step

    def answer(self, got: Got) -> None:
        self._got = got


class Cache:
    """The optional in-process read cache: values by (environment, vault, key) for ``ttl``
    seconds. It holds values in this process's memory; its ``repr`` shows only its size."""

    def __init__(self, ttl: Optional[float]) -> None:
        self.ttl = ttl
        self._entries: Dict[Tuple[str, str, str], Tuple[float, str, str]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Cache(ttl={self.ttl!r}, entries={len(self._entries)})"

    @property
    def enabled(self) -> bool:
        return bool(self.ttl)

    def get(self, where: Tuple[str, str, str]) -> Optional[Tuple[str, str]]:
        """The cached ``(kind, value)`` of an entry, if fresh."""
        if not self.enabled:
            return None
        with self._lock:
            hit = self._entries.get(where)
            if hit is None:
                return None
            if hit[0] <= time.monotonic():
                del self._entries[where]
                return None
            return hit[1], hit[2]

    def put(self, where: Tuple[str, str, str], kind: str, value: str) -> None:
        if self.enabled and self.ttl is not None:
            with self._lock:
                self._entries[where] = (time.monotonic() + self.ttl, kind, value)

    def invalidate(
        self, key: Optional[str] = None, *, environment: Optional[str] = None, vault: Optional[str] = None
    ) -> None:
        """Drops the cached entries that match every argument given (all of them without any)."""
        with self._lock:
            for where in [w for w in self._entries if _matches(w, environment, vault, key)]:
                del self._entries[where]


def _matches(where: Tuple[str, str, str], environment: Optional[str], vault: Optional[str], key: Optional[str]) -> bool:
    env, v, k = where
    return (environment is None or env == environment) and (vault is None or v == vault) and (key is None or k == key)
