"""The Python client of tresor, a secrets manager.

Datatailr's shape::

    import tresor
    password = tresor.kv.get("db/password", secure=True)
    tresor.kv.put("config/threshold", "0.95")

Tailor's shape::

    key = tresor.secrets.get("api-keys", "stripe-secret-key")           # str | None
    a, b = tresor.secrets.get_all("api-keys", ["stripe", "sendgrid"])   # one request

The module-level helpers use a client built from ``TRESOR_ADDR``, ``TRESOR_TOKEN``,
``TRESOR_ENV``, ``TRESOR_VAULT`` and ``TRESOR_CACERT``; build your own with :class:`Client` or
:class:`AsyncClient`.
"""

from . import kv, secrets
from ._client import KV, AsyncClient, AsyncKV, AsyncSecrets, Client, Secrets, __version__
from ._default import default_client, set_default_client
from ._errors import (
    AlreadyExists,
    ConfigError,
    Conflict,
    InvalidRequest,
    LimitReached,
    NotFound,
    NotText,
    PermissionDenied,
    RateLimited,
    ServerError,
    Timeout,
    TokenExpired,
    TooLarge,
    TransportError,
    TresorError,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "AsyncClient",
    "AsyncKV",
    "AsyncSecrets",
    "Client",
    "ConfigError",
    "Conflict",
    "InvalidRequest",
    "KV",
    "LimitReached",
    "NotFound",
    "NotText",
    "PermissionDenied",
    "RateLimited",
    "Secrets",
    "ServerError",
    "Timeout",
    "TokenExpired",
    "TooLarge",
    "TransportError",
    "TresorError",
    "Unauthenticated",
    "Unavailable",
    "__version__",
    "default_client",
    "kv",
    "secrets",
    "set_default_client",
]
