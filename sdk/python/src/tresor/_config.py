"""The client's settings: explicit arguments first, then ``TRESOR_*`` environment variables."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from ._errors import ConfigError

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_MAX_RETRY_WAIT = 30.0


@dataclass(frozen=True)
class Settings:
    """What a client connects to and how. The token is left out of ``repr``."""

    addr: str
    token: str = field(repr=False)
    environment: str = "default"
    vault: str = "default"
    ca_cert: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    cache_ttl: Optional[float] = None

    @classmethod
    def resolve(cls, env: Optional[Mapping[str, str]] = None, **given: Any) -> Settings:
        """The settings from the arguments ``given`` (the client's, by name), each of ``addr``,
        ``token``, ``environment``, ``vault`` and ``ca_cert`` that is ``None`` read from
        ``TRESOR_*`` in ``env`` (``os.environ`` by default)."""
        env = os.environ if env is None else env

        def pick(value: Optional[str], name: str) -> Optional[str]:
            return value if value is not None else (env.get(name) or None)

        addr, token = pick(given.pop("addr"), "TRESOR_ADDR"), pick(given.pop("token"), "TRESOR_TOKEN")
        if not addr:
            raise ConfigError(
                "no tresor server address: pass addr= or set TRESOR_ADDR (like http://127.0.0.1:8200)"
            )
        addr = addr.rstrip("/")
        if not (addr.startswith("http://") or addr.startswith("https://")):
            raise ConfigError(f"the tresor address must start with http:// or https:// (found {addr!r})")
        if not token:
            raise ConfigError("no tresor token: pass token= or set TRESOR_TOKEN")
        settings = cls(
            addr=addr,
            token=token,
            environment=pick(given.pop("environment"), "TRESOR_ENV") or "default",
            vault=pick(given.pop("vault"), "TRESOR_VAULT") or "default",
            ca_cert=pick(given.pop("ca_cert"), "TRESOR_CACERT"),
            **given,
        )
        if settings.retries < 0 or settings.timeout <= 0 or settings.backoff < 0 or settings.max_retry_wait < 0:
            raise ConfigError("timeout must be positive; retries, backoff and max_retry_wait not negative")
        if settings.cache_ttl is not None and settings.cache_ttl < 0:
            raise ConfigError("cache_ttl must not be negative")
        return settings

    def verify(self) -> Union[bool, ssl.SSLContext]:
        """What httpx checks the server's certificate with: the system's CAs, or ``ca_cert``'s."""
        if not self.ca_cert:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_cert)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"cannot read the CA certificate {self.ca_cert}: {e}") from None
