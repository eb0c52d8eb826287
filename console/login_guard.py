"""Sign-in guards: a throttle on failed passwords per account and per address, and the forms' CSRF tokens."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

FORM_COOKIE = "sc_login_form"  # double-submit token: a cross-site page can post the form but cannot read it
MAX_TRACKED = 10_000  # keys remembered at most, so a flood of made-up names cannot grow memory without bound


def new_form_token() -> str:
    """A random token for one sign-in form."""
    return secrets.token_urlsafe(24)


def session_form_token(key: bytes, session_id: str) -> str:
    """A form token bound to one signed-in session (the same in all its tabs), derived from a server key.

    Pages may show it: it proves a form came from one of our pages, and cannot be turned into the cookie.
    """
    return hmac.new(key, b"form\x00" + session_id.encode(), hashlib.sha256).hexdigest()


def form_token_matches(cookie: str | None, field_value: str | None) -> bool:
    """Whether the form's hidden token is the one set in this browser's cookie."""
    if not cookie or not field_value or len(cookie) > 200:
        return False
    return hmac.compare_digest(cookie.encode(), field_value.encode())


@dataclass
class LoginThrottle:
    """Too many failed sign-ins within `window` for one name, or from one address, lock it for `lockout`.

    Per name it stops password guessing against one account; per address (with a higher limit, as an
    office shares one) it stops one machine from trying many accounts. Kept in memory: one process
    serves the console, and a restart only forgets the count.
    """

    max_per_name: int = 5
    max_per_address: int = 20
    window: float = 900.0
    lockout: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until `name` from `address` may try again; 0 when allowed now."""
        now = self.clock()
        waits = [self._locked_until.get(key, 0.0) - now for key in self._keys(name, address)]
        return max(0.0, *waits)

    def failed(self, name: str, address: str) -> None:
        """Count a wrong password (or unknown name); lock the key that reached its limit."""
        now = self.clock()
        if len(self._failures) > MAX_TRACKED:
            self._forget_old(now)
        for key, limit in zip(self._keys(name, address), (self.max_per_name, self.max_per_address)):
            recent = self._failures.setdefault(key, deque())
            recent.append(now)
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= limit:
                self._locked_until[key] = now + self.lockout
                recent.clear()

    def succeeded(self, name: str, address: str) -> None:
        """A right password clears the account's count (not the address's: others may be guessing from it)."""
        name_key, _ = self._keys(name, address)
        self._failures.pop(name_key, None)

    @staticmethod
    def _keys(name: str, address: str) -> tuple[str, str]:
        return f"name:{name.casefold()}", f"addr:{address}"

    def _forget_old(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if not times or times[-1] <= now - self.window]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
