"""An Apache Airflow secrets backend that reads connections, variables and configuration from
tresor: ``tresor.airflow.TresorBackend``.

Configured in ``airflow.cfg`` (or ``AIRFLOW__SECRETS__BACKEND`` and
``AIRFLOW__SECRETS__BACKEND_KWARGS``)::

    [secrets]
    backend = tresor.airflow.TresorBackend
    backend_kwargs = {"addr": "https://tresor.internal:8200", "token_file": "/run/secrets/tresor",
                      "environment": "prod", "vault": "airflow"}

Airflow asks for connection ``pg_main`` and this backend reads the tresor entry
``airflow/connections/pg_main`` (``connections_prefix``, ``sep``, the id), likewise
``airflow/variables/<key>`` and ``airflow/config/<key>``, in ``vault`` and ``environment``. A
prefix set to ``None`` turns that lookup off, as Airflow's own backends do. A missing entry is
``None``, so Airflow goes on to its environment variables and metastore; any other failure (a bad
token, a denied read, an unreachable server) raises :class:`tresor.TresorError`, whose message
never holds a value or the token.

The backend is a thin layer over :class:`tresor.Client`: it adds no rule of its own. This module
imports Airflow; the rest of the SDK does not, so it works without Airflow installed.
"""

from __future__ import annotations

from typing import Any, Optional

from ._client import Client
from ._errors import ConfigError

try:
    from airflow.secrets import BaseSecretsBackend
except ImportError as _missing:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "tresor.airflow is an Apache Airflow secrets backend and needs Airflow: "
        "pip install apache-airflow (the rest of the tresor package works without it)"
    ) from _missing

DEFAULT_CONNECTIONS_PREFIX = "airflow/connections"
DEFAULT_VARIABLES_PREFIX = "airflow/variables"
DEFAULT_CONFIG_PREFIX = "airflow/config"


def read_token_file(path: str) -> str:
    """The token in ``path`` (surrounding whitespace dropped, as files end with a newline)."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the tresor token file {path}: {type(e).__name__}") from None
    if not token:
        raise ConfigError(f"the tresor token file {path} is empty")
    return token


class TresorBackend(BaseSecretsBackend):  # type: ignore[misc]
    """Airflow connections, variables and configuration from tresor entries.

    ``addr``, ``token``, ``environment`` and ``ca_cert`` are :class:`tresor.Client`'s (each left
    out is read from ``TRESOR_ADDR``, ``TRESOR_TOKEN``, ``TRESOR_ENV``, ``TRESOR_CACERT``);
    ``token_file`` names a file holding the token instead (give one of ``token`` and
    ``token_file``). ``vault`` is the vault read (default ``default``). The key of connection
    ``X`` is ``<connections_prefix><sep>X``; ``None`` as a prefix turns that lookup off. Other
    keyword arguments (``timeout``, ``retries``, ``cache_ttl``, ...) go to the client.
    """

    def __init__(
        self,
        connections_prefix: Optional[str] = DEFAULT_CONNECTIONS_PREFIX,
        variables_prefix: Optional[str] = DEFAULT_VARIABLES_PREFIX,
        config_prefix: Optional[str] = DEFAULT_CONFIG_PREFIX,
        sep: str = "/",
        *,
        addr: Optional[str] = None,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        environment: Optional[str] = None,
        vault: Optional[str] = None,
        ca_cert: Optional[str] = None,
        **client_options: Any,
    ) -> None:
        super().__init__()
        if token is not None and token_file is not None:
            raise ConfigError("give the tresor backend either token or token_file, not both")
        if token_file is not None:
            token = read_token_file(token_file)
        self.connections_prefix = connections_prefix
        self.variables_prefix = variables_prefix
        self.config_prefix = config_prefix
        self.sep = sep
        self.client = Client(addr, token, environment, vault, ca_cert, **client_options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

    def _read(self, prefix: Optional[str], name: str) -> Optional[str]:
        """The value of ``<prefix><sep><name>`` in the client's vault, ``None`` if there is none
        or the lookup is off."""
        if prefix is None:
            return None
        return self.client.secrets.get(self.client.vault, self.build_path(prefix, name, self.sep))

    def get_conn_value(self, conn_id: str) -> Optional[str]:
        """The connection as stored: JSON (``{"conn_type": ...}``) or a URI; Airflow parses it."""
        return self._read(self.connections_prefix, conn_id)

    def get_variable(self, key: str) -> Optional[str]:
        return self._read(self.variables_prefix, key)

    def get_config(self, key: str) -> Optional[str]:
        """The value of an option Airflow reads from its secrets backend: ``[database]
        sql_alchemy_conn_secret = sql_alchemy_conn`` reads ``airflow/config/sql_alchemy_conn``."""
        return self._read(self.config_prefix, key)
