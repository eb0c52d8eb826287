"""The project's own errors; connectors translate client-library errors into these at the boundary."""
from __future__ import annotations


class SocialCareError(Exception):
    """Base of every error this project raises on purpose."""


class VerificationError(SocialCareError):
    """A webhook request failed signature or secret verification."""


class PayloadError(SocialCareError):
    """A platform payload is malformed or misses required fields."""


class AuthError(SocialCareError):
    """The platform rejected our credentials; retrying will not help."""


class PlatformError(SocialCareError):
    """The platform refused the request for good (4xx other than rate limits)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RateLimited(SocialCareError):
    """The platform asked us to wait; retry_after is in seconds (None when it did not say)."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(SocialCareError):
    """A 5xx, a timeout or a dropped connection.

    maybe_delivered is True when the request may have reached the platform (a read timeout, a
    connection dropped after sending): resending could duplicate the reply.
    """

    def __init__(self, message: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered
