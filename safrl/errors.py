"""The errors the safrl client raises.

Every failure to get a reward ends in one of these, never in a missing or made-up reward:

    SafrlError            base class; .code is the server's error code (or None), .request_id the id
    ├── BadRequest        the request itself is wrong: refused by the server (bad_request,
    │                     too_large, too_long, unsupported_version; .code says which) or found
    │                     wrong before sending (.code None); retrying cannot help, so it never is
    ├── ServerBusy        every attempt was refused for load, shutdown or a model the server
    │                     calls being down (busy, deadline_exceeded, shutting_down, unavailable);
    │                     .retry_after_ms is the server's last hint
    ├── Timeout           no reply within the timeout on every attempt (also a TimeoutError)
    └── ServerError       the server failed (internal, model_error) or sent a reply that breaks
                          the protocol

Codes are those of docs/protocol.md.
"""
from __future__ import annotations

from typing import Optional

__all__ = ["SafrlError", "BadRequest", "ServerBusy", "Timeout", "ServerError", "error_for_code"]


class SafrlError(Exception):
    """Base of every error of the safrl client."""

    def __init__(self, message: str, *, code: Optional[str] = None,
                 request_id: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id


class BadRequest(SafrlError):
    """The request is wrong as sent; fix it (never retried)."""


class ServerBusy(SafrlError):
    """The server refused every attempt for load (busy, deadline_exceeded), shutdown, or because a
    model it calls did not answer (unavailable)."""

    def __init__(self, message: str, *, code: Optional[str] = None,
                 request_id: Optional[str] = None, retry_after_ms: Optional[int] = None) -> None:
        super().__init__(message, code=code, request_id=request_id)
        self.retry_after_ms = retry_after_ms


class Timeout(SafrlError, TimeoutError):
    """No reply came within the timeout, on every attempt."""


class ServerError(SafrlError):
    """The server failed (code internal or model_error) or its reply breaks the protocol."""


# Codes that say the request is wrong: the same request would be refused again.
BAD_REQUEST_CODES = frozenset({"bad_request", "too_large", "too_long", "unsupported_version"})
# Codes that say "not now": the same request, with the same id, may succeed later.
RETRYABLE_CODES = frozenset({"busy", "deadline_exceeded", "shutting_down", "unavailable"})
# Retryable codes that say the server is up and will do the work once something passes (its
# queue drains, the vLLM server it calls is back): waited out for busy_wait seconds instead of
# counting against `retries`.
WAITED_OUT_CODES = frozenset({"busy", "unavailable"})


def error_for_code(code: str, message: str, request_id: Optional[str],
                   retry_after_ms: Optional[int] = None) -> SafrlError:
    """The typed error for an `error` reply with this code (unknown codes are ServerError)."""
    text = f"{code}: {message}"
    if code in BAD_REQUEST_CODES:
        return BadRequest(text, code=code, request_id=request_id)
    if code in RETRYABLE_CODES:
        return ServerBusy(text, code=code, request_id=request_id, retry_after_ms=retry_after_ms)
    return ServerError(text, code=code, request_id=request_id)
