"""What every console session shares (store, bus, presence, sign-in) and who one session is."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from console.auth import Claims, SessionSigner
from console.canned import CannedLibrary, CannedReply
from console.commands import Commands
from console.live_sessions import LiveSessions
from console.presence import Presence
from console.sharing import SharedResults
from social_care.bus import Bus
from social_care.metrics.registry import MetricsConfig
from social_care.permissions import visible_queues
from social_care.store.db import Database
from social_care.store.models import Agent
from social_care.store.types import utcnow


class SessionExpired(Exception):
    """The signed-in session ended; the browser must sign in again (drafts stay in the browser)."""


@dataclass
class ConsoleContext:
    """The process-wide parts; one per console server."""

    db: Database
    bus: Bus
    commands: Commands
    presence: Presence
    signer: SessionSigner
    brand: str
    default_language: str
    canned: CannedLibrary = field(default_factory=CannedLibrary)  # live: iterate it, never keep a copy
    now: Callable[[], datetime] = utcnow
    metrics: MetricsConfig | None = None  # SLA rules and business hours for the dashboard and alerts
    pages: SharedResults | None = None  # inbox pages shared between sessions (None: every session queries)
    sessions: LiveSessions = field(default_factory=LiveSessions)  # open browser sessions, ended on logout

    def __post_init__(self) -> None:
        if not isinstance(self.canned, CannedLibrary):  # a plain list (tests, tools): a fixed library
            self.canned = CannedLibrary(replies=cast(Iterable[CannedReply], self.canned))


@dataclass(frozen=True)
class SessionAgent:
    """The signed-in agent as one session sees it."""

    id: int
    name: str
    display_name: str
    role: str
    language: str
    expires: float
    logout_token: str = ""  # the sign-out form's CSRF token for this session (not the session credential)

    @classmethod
    def from_claims(cls, claims: Claims, agent: Agent | None = None, *, logout_token: str = "") -> SessionAgent:
        return cls(claims.agent_id, claims.name, (agent.display_name if agent else None) or claims.name,
                   agent.role if agent else claims.role, claims.language, claims.expires, logout_token)

    @property
    def visible_queues(self) -> tuple[str, ...] | None:
        return visible_queues(Agent(role=self.role))
