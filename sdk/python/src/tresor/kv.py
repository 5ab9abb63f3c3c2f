"""Datatailr's ``dt.kv`` on the default client: ``tresor.kv.get("db/password", secure=True)``.

``secure=True`` is a secret, ``secure=False`` (the default) a variable; ``environment=`` is
``dt kv -e``. See :class:`tresor.KV`.
"""

from __future__ import annotations

from typing import List, Optional

from ._default import default_client


def get(key: str, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None) -> str:
    """The value of a variable (or, with ``secure=True``, a secret); :class:`tresor.NotFound` if none."""
    return default_client().kv.get(key, secure, environment=environment, vault=vault)


def put(
    key: str, value: str, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None
) -> None:
    """Stores a variable (or, with ``secure=True``, a secret)."""
    default_client().kv.put(key, value, secure, environment=environment, vault=vault)


def ls(
    secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None, prefix: str = ""
) -> List[str]:
    """The keys of the variables (or, with ``secure=True``, the secrets)."""
    return default_client().kv.ls(secure, environment=environment, vault=vault, prefix=prefix)


def rm(key: str, secure: bool = False, *, environment: Optional[str] = None, vault: Optional[str] = None) -> None:
    """Deletes a variable (or, with ``secure=True``, a secret)."""
    default_client().kv.rm(key, secure, environment=environment, vault=vault)
