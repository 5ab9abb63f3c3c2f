"""Tailor's ``secrets`` on the default client: ``tresor.secrets.get("api-keys", "stripe")``.

See :class:`tresor.Secrets`.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from ._default import default_client


def get(vault: str, name: str, *, environment: Optional[str] = None) -> Optional[str]:
    """The value of ``name`` in ``vault``, or ``None`` if there is none."""
    return default_client().secrets.get(vault, name, environment=environment)


def get_all(vault: str, names: Sequence[str], *, environment: Optional[str] = None) -> List[Optional[str]]:
    """The values of ``names`` in ``vault`` (``None`` for a missing one), in one request."""
    return default_client().secrets.get_all(vault, names, environment=environment)
