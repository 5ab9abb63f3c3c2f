"""The client the module-level helpers (``tresor.kv``, ``tresor.secrets``) use: built from the
``TRESOR_*`` environment variables at its first use, or set with :func:`set_default_client`."""

from __future__ import annotations

import threading
from typing import Optional

from ._client import Client

_lock = threading.Lock()
_client: Optional[Client] = None


def default_client() -> Client:
    """The default client, built from the environment the first time it is needed."""
    global _client
    with _lock:
        if _client is None:
            _client = Client()
        return _client


def set_default_client(client: Optional[Client]) -> None:
    """Makes ``client`` the default; ``None`` closes the current one, so that the next call builds
    one from the environment again."""
    global _client
    with _lock:
        old, _client = _client, client
    if old is not None and old is not client:
        old.close()
