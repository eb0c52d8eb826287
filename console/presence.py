"""Who is looking at which conversation right now, in this console process."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

PRESENCE_TOPIC = "console.presence"


@dataclass
class Presence:
    """Sessions and the conversation each one has open; `on_change(ids)` hears every move."""

    on_change: Callable[[list[int]], None] = lambda ids: None
    _where: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    def view(self, session_id: str, agent_name: str, conversation_id: int | None) -> None:
        """Record that a session now shows `conversation_id` (None: no conversation)."""
        before = self._where.get(session_id, (agent_name, None))[1]
        self._where[session_id] = (agent_name, conversation_id)
        if before != conversation_id:
            self.on_change([i for i in (before, conversation_id) if i is not None])

    def leave(self, session_id: str) -> None:
        """Forget a closed session."""
        gone = self._where.pop(session_id, None)
        if gone is not None and gone[1] is not None:
            self.on_change([gone[1]])

    def viewers(self, conversation_id: int) -> list[str]:
        """The agents with this conversation open, each once, sorted."""
        return sorted({name for name, where in self._where.values() if where == conversation_id})

    def viewers_of(self, conversation_ids: list[int]) -> dict[int, list[str]]:
        """Viewers for several conversations at once."""
        wanted = set(conversation_ids)
        found: dict[int, set[str]] = {}
        for name, where in self._where.values():
            if where in wanted:
                found.setdefault(where, set()).add(name)  # type: ignore[arg-type]
        return {cid: sorted(names) for cid, names in found.items()}

    @property
    def sessions(self) -> int:
        return len(self._where)
