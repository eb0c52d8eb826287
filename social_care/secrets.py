"""A string type for credentials that never shows its value in logs, reprs or tracebacks."""
from __future__ import annotations

import hmac


class Secret:
    """Wraps a credential; `reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def matches(self, candidate: str | bytes | None) -> bool:
        """Constant-time comparison with a candidate taken from a request."""
        if candidate is None:
            return False
        if isinstance(candidate, str):
            # aiohttp decodes header bytes with surrogateescape; undecodable bytes must not raise.
            candidate = candidate.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(self._value.encode(), candidate)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))
