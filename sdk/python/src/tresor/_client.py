"""``Client`` (blocking) and ``AsyncClient``, each with Datatailr's ``kv`` and Tailor's ``secrets``."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import httpx

from . import _ops
from ._config import DEFAULT_BACKOFF, DEFAULT_MAX_RETRY_WAIT, DEFAULT_RETRIES, DEFAULT_TIMEOUT, Settings
from ._core import Cache, Call, Got, Op, Plan

__version__ = "0.1.0"


class _Base:
    """Settings, the read cache, and what both clients say about themselves."""

    _kv_class: Any
    _secrets_class: Any

    def __init__(
        self,
        addr: Optional[str] = None,
        token: Optional[str] = None,
        environment: Optional[str] = None,
        vault: Optional[str] = None,
        ca_cert: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
        cache_ttl: Optional[float] = None,
        transport: Any = None,
    ) -> None:
        self._settings = Settings.resolve(
            addr=addr,
            token=token,
            environment=environment,
            vault=vault,
            ca_cert=ca_cert,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_retry_wait=max_retry_wait,
            cache_ttl=cache_ttl or None,
        )
        self._cache = Cache(self._settings.cache_ttl)
        self._http = self._open(self._http_options(transport))
        self.kv = self._kv_class(self)
        self.secrets = self._secrets_class(self)

    def _open(self, options: Dict[str, Any]) -> Any:
        raise NotImplementedError

    def _http_options(self, transport: Any) -> Dict[str, Any]:
        s = self._settings
        options: Dict[str, Any] = {
            "base_url": s.addr,
            "headers": {"Authorization": f"Bearer {s.token}", "User-Agent": f"tresor-python/{__version__}"},
            "timeout": s.timeout,
        }
        if transport is not None:
            options["transport"] = transport
        else:
            options["verify"] = s.verify()
        return options

    @property
    def addr(self) -> str:
        return self._settings.addr

    @property
    def environment(self) -> str:
        """The environment of calls that name none."""
        return self._settings.environment

    @property
    def vault(self) -> str:
        """The vault of ``kv`` calls that name none."""
        return self._settings.vault

    def __repr__(self) -> str:
        return f"{type(self).__name__}(addr={self.addr!r}, environment={self.environment!r}, vault={self.vault!r})"

    def invalidate(
        self, key: Optional[str] = None, *, environment: Optional[str] = None, vault: Optional[str] = None
    ) -> None:
        """Drops cached values: all of them, or those matching every argument given. Writes
        through this client invalidate what they change by themselves."""
        self._cache.invalidate(key, environment=environment, vault=vault)

    def _where(self, environment: Optional[str], vault: Optional[str]) -> Tuple[str, str]:
        return environment or self.environment, vault or self.vault


class Client(_Base):
    """A blocking client of one tresor server with one token: ``client.kv`` (Datatailr's shape),
    ``client.secrets`` (Tailor's).

    Every argument left out is read from the environment: ``TRESOR_ADDR``, ``TRESOR_TOKEN``,
    ``TRESOR_ENV`` (default ``default``), ``TRESOR_VAULT`` (default ``default``),
    ``TRESOR_CACERT`` (a PEM file of the CA that signed the server's certificate).
    ``timeout`` is in seconds; connection failures, 429 answers and 503 answers to reads are
    retried ``retries`` times (``Retry-After`` honoured, at most ``max_retry_wait`` seconds of waiting in all);
    ``cache_ttl`` (seconds) turns on the in-process read cache. ``transport`` replaces httpx's
    (for tests or a proxy set-up: an ``httpx.BaseTransport`` for :class:`Client`, an
    ``httpx.AsyncBaseTransport`` for :class:`AsyncClient`).
    """

    kv: KV
    secrets: Secrets
    _http: httpx.Client

    def _open(self, options: Dict[str, Any]) -> httpx.Client:
        return httpx.Client(**options)

    def _run(self, op: Op) -> Any:
        plan = Plan(self._settings, op)
        for wait, call in plan:
            time.sleep(wait)
            plan.answer(self._send(call))
        return plan.result

    def _send(self, call: Call) -> Got:
        try:
            return self._http.request(call.method, call.path, json=call.body, params=call.params)
        except httpx.TransportError as exc:
            return exc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The same as :class:`Client`, for asyncio: ``await client.kv.get(...)``,
    ``await client.secrets.get_all(...)``; close it with ``await client.aclose()`` or
    ``async with``."""

    kv: AsyncKV
    secrets: AsyncSecrets
    _http: httpx.AsyncClient

    def _open(self, options: Dict[str, Any]) -> httpx.AsyncClient:
        return httpx.AsyncClient(**options)

    async def _run(self, op: Op) -> Any:
        plan = Plan(self._settings, op)
        for wait, call in plan:
            await asyncio.sleep(wait)
            plan.answer(await self._send(call))
        return plan.result

    async def _send(self, call: Call) -> Got:
        try:
            return await self._http.request(call.method, call.path, json=call.body, params=call.params)
        except httpx.TransportError as exc:
            return exc

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _KVOps:
    """The ``kv`` operations of one client, before they are run."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._client!r})"

    def _get(self, key: str, secure: bool, environment: Optional[str], vault: Optional[str]) -> Op:
        return _ops.kv_get(self._client._cache, self._client._where(environment, vault), key, secure)

    def _put(self, key: str, value: str, secure: bool, environment: Optional[str], vault: Optional[str]) -> Op:
        return _ops.put(self._client._cache, self._client._where(environment, vault), key, value, secure)

    def _ls(self, secure: bool, environment: Optional[str], vault: Optional[str], prefix: str) -> Op:
        return _ops.ls(self._client._where(environment, vault), secure, prefix)

    def _rm(self, key: str, secure: bool, environment: Optional[str], vault: Optional[str]) -> Op:
        return _ops.rm(self._client._cache, self._client._where(environment, vault), key, secure)


class KV(_KVOps):
    """Datatailr's ``dt.kv``: ``secure=True`` is a secret, ``secure=False`` (the default) a
    variable, and the two are kept apart as Datatailr keeps them. ``environment=`` is ``dt kv
    -e``; ``vault=`` defaults to the client's."""

    def get(
        self, key: str, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None
    ) -> str:
        """The value of a variable (or, with ``secure=True``, a secret). :class:`NotFound` when
        there is none of that kind."""
        return self._client._run(self._get(key, secure, environment, vault))  # type: ignore[no-any-return]

    def put(
        self, key: str, value: str, secure: bool = False, *,
        environment: Optional[str] = None, vault: Optional[str] = None
    ) -> None:
        """Stores a variable (or, with ``secure=True``, a secret): a new version if it exists."""
        self._client._run(self._put(key, value, secure, environment, vault))

    def ls(
        self, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None, prefix: str = ""
    ) -> List[str]:
        """The keys of the variables (or, with ``secure=True``, the secrets), in order."""
        return self._client._run(self._ls(secure, environment, vault, prefix))  # type: ignore[no-any-return]

    def rm(
        self, key: str, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None
    ) -> None:
        """Deletes a variable (or, with ``secure=True``, a secret; a forgotten flag deletes
        nothing and raises :class:`NotFound`). ``tresor undelete`` brings it back."""
        self._client._run(self._rm(key, secure, environment, vault))


class AsyncKV(_KVOps):
    """:class:`KV` for :class:`AsyncClient`: every method is awaited."""

    async def get(
        self, key: str, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None
    ) -> str:
        return await self._client._run(self._get(key, secure, environment, vault))  # type: ignore[no-any-return]

    async def put(
        self, key: str, value: str, secure: bool = False, *,
        environment: Optional[str] = None, vault: Optional[str] = None
    ) -> None:
        await self._client._run(self._put(key, value, secure, environment, vault))

    async def ls(
        self, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None, prefix: str = ""
    ) -> List[str]:
        return await self._client._run(self._ls(secure, environment, vault, prefix))  # type: ignore[no-any-return]

    async def rm(
        self, key: str, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None
    ) -> None:
        await self._client._run(self._rm(key, secure, environment, vault))


class _SecretsOps:
    """The ``secrets`` operations of one client, before they are run."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._client!r})"

    def _get(self, vault: str, name: str, environment: Optional[str]) -> Op:
        return _ops.secret_get(self._client._cache, self._client._where(environment, vault), name)

    def _get_all(self, vault: str, names: Sequence[str], environment: Optional[str]) -> Op:
        return _ops.get_all(self._client._cache, self._client._where(environment, vault), names)


class Secrets(_SecretsOps):
    """Tailor's ``secrets``: values by vault and name, ``None`` for a name that does not exist,
    :class:`PermissionDenied` for one the token may not read."""

    def get(self, vault: str, name: str, *, environment: Optional[str] = None) -> Optional[str]:
        """The value of ``name`` in ``vault`` (either kind), or ``None`` if there is none."""
        return self._client._run(self._get(vault, name, environment))  # type: ignore[no-any-return]

    def get_all(self, vault: str, names: Sequence[str], *, environment: Optional[str] = None) -> List[Optional[str]]:
        """The values of ``names``, in their order (``None`` for a missing one), in one request."""
        return self._client._run(self._get_all(vault, names, environment))  # type: ignore[no-any-return]


class AsyncSecrets(_SecretsOps):
    """:class:`Secrets` for :class:`AsyncClient`: every method is awaited."""

    async def get(self, vault: str, name: str, *, environment: Optional[str] = None) -> Optional[str]:
        return await self._client._run(self._get(vault, name, environment))  # type: ignore[no-any-return]

    async def get_all(
        self, vault: str, names: Sequence[str], *, environment: Optional[str] = None
    ) -> List[Optional[str]]:
        return await self._client._run(self._get_all(vault, names, environment))  # type: ignore[no-any-return]


Client._kv_class, Client._secrets_class = KV, Secrets
AsyncClient._kv_class, AsyncClient._secrets_class = AsyncKV, AsyncSecrets
