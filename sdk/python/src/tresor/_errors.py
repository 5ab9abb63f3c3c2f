"""Typed exceptions, one per kind of failure the server names in its error document.

Messages are the server's (which never hold a value) or the client's own (which name keys,
environments and vaults, never values). No exception keeps a request or a response body.
"""

from __future__ import annotations

from typing import Mapping, Optional


class TresorError(Exception):
    """Base of every error the tresor client raises.

    ``kind`` is the server's error kind (``not_found``, ``denied``, ...) when it gave one,
    ``status`` the HTTP status when there was an answer.
    """

    def __init__(self, message: str, *, kind: Optional[str] = None, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, kind={self.kind!r}, status={self.status!r})"


class ConfigError(TresorError):
    """The client is not configured: no address or token, a bad address, an unreadable CA file."""


class TransportError(TresorError):
    """The server could not be reached (after the retries), or the connection failed."""


class Timeout(TransportError):
    """The server did not answer within the timeout."""


class InvalidRequest(TresorError):
    """The server refused the request as malformed (``invalid``): a bad name, an entry of the other kind."""


class TooLarge(TresorError):
    """A value or a request is larger than the server allows (``too_large``)."""


class NotFound(TresorError):
    """What the request names does not exist (``not_found``)."""


class Conflict(TresorError):
    """The request conflicts with the current state (``conflict``)."""


class AlreadyExists(Conflict):
    """What the request would create exists already (``already_exists``)."""


class PermissionDenied(TresorError):
    """The token lacks a right the request needs (``denied``)."""


class LimitReached(PermissionDenied):
    """A quota was reached (``limit``), such as the number of entries in a workspace."""


class Unauthenticated(TresorError):
    """The token is missing, malformed, unknown or revoked (``unauthenticated``)."""


class TokenExpired(Unauthenticated):
    """The token was valid and has expired (``expired``)."""


class RateLimited(TresorError):
    """Too many requests (``rate_limited``), still refused after the retries.

    ``retry_after`` is the wait in seconds the server asked for, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: Optional[str] = None,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, kind=kind, status=status)
        self.retry_after = retry_after


class ServerError(TresorError):
    """The server failed (``internal``, ``upstream``, ``out_of_space``: its database's disk is
    full, or a 5xx answer without a kind)."""


class Unavailable(ServerError):
    """The server (or a proxy before it) answered 503 (kind ``unavailable``: its database cannot
    be reached), still after the retries."""


class NotText(TresorError):
    """The value is not UTF-8 text, so it cannot be returned as ``str``."""


_BY_KIND: Mapping[str, type[TresorError]] = {
    "invalid": InvalidRequest,
    "too_large": TooLarge,
    "not_found": NotFound,
    "already_exists": AlreadyExists,
    "conflict": Conflict,
    "denied": PermissionDenied,
    "limit": LimitReached,
    "unauthenticated": Unauthenticated,
    "expired": TokenExpired,
    "rate_limited": RateLimited,
    "upstream": ServerError,
    "unavailable": Unavailable,
    "out_of_space": ServerError,
    "internal": ServerError,
}

# An answer without a kind (a proxy's) is judged by its status.
_BY_STATUS: Mapping[int, type[TresorError]] = {
    400: InvalidRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    429: RateLimited,
    503: Unavailable,
}


def error_for(
    status: int, kind: Optional[str], message: Optional[str], retry_after: Optional[float] = None
) -> TresorError:
    """The exception for an error answer: by the server's ``kind``, else by the status."""
    cls = _BY_KIND.get(kind) if kind else None
    if cls is None:
        cls = _BY_STATUS.get(status, ServerError if status >= 500 else TresorError)
    text = message or f"the server answered {status}"
    if issubclass(cls, RateLimited):
        return cls(text, kind=kind, status=status, retry_after=retry_after)
    return cls(text, kind=kind, status=status)
