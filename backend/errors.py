"""kbchat's own error hierarchy, translated from lower layers at each boundary.

    KbchatError                      base; ``status`` is the HTTP status the API answers with
    ├── InvalidInput          422    the request is well-formed but its content is wrong
    │   ├── EmptyContent      422    an upload or text with nothing to index
    │   ├── PayloadTooLarge   413    over a configured size limit
    │   └── UnsupportedFormat 415    a file type no loader handles
    ├── Unauthorized          401    missing or wrong bearer token
    ├── Forbidden             403    a valid key without the scope (or origin) this needs
    ├── NotFound              404    an id that does not exist (or is not yours)
    ├── Conflict              409    the request collides with existing state (duplicate name)
    ├── RateLimited           429    too many requests or the daily budget is spent; see Retry-After
    ├── Unavailable           503    a dependency (vector store, database) is down; retry later
    └── UpstreamError         502    the LLM provider answered with an error (its message, never our keys)
        └── UpstreamTimeout   504    the LLM provider did not answer in time

Every message says what to do about it: a person reads these at 3 a.m.
The API maps them to JSON ``{"error": {"code", "message"}}`` in exactly one place (backend/api/errors.py).
"""

from __future__ import annotations


class KbchatError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(KbchatError):
    status = 422
    code = "invalid_input"


class EmptyContent(InvalidInput):
    code = "empty_content"


class PayloadTooLarge(InvalidInput):
    status = 413
    code = "payload_too_large"


class UnsupportedFormat(InvalidInput):
    status = 415
    code = "unsupported_format"


class Unauthorized(KbchatError):
    status = 401
    code = "unauthorized"


class Forbidden(KbchatError):
    status = 403
    code = "forbidden"


class NotFound(KbchatError):
    status = 404
    code = "not_found"


class Conflict(KbchatError):
    status = 409
    code = "conflict"


class RateLimited(KbchatError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class Unavailable(KbchatError):
    status = 503
    code = "unavailable"


class UpstreamError(KbchatError):
    status = 502
    code = "upstream_error"

    def __init__(self, message: str, *, provider: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.provider = provider
        self.retryable = retryable
        """429, 5xx and timeouts are worth another try (or the next provider in the chain)."""


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, provider=provider, retryable=True)
