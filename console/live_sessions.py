"""The open browser sessions of one console process, so a logout or a password change can end them at once."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping


class LiveSessions:
    """The open browser sessions of one console process by agent, so a logout or a password change ends them."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[int, int, Callable[[], None]]] = {}  # key -> (agent id, epoch, end)
        self._keys = itertools.count()

    def add(self, agent_id: int, epoch: int, end: Callable[[], None]) -> Callable[[], None]:
        """Follow a session signed in at `epoch`; `end()` closes it. Returns the function that forgets it."""
        key = next(self._keys)
        self._open[key] = (agent_id, epoch, end)

        def forget() -> None:
            self._open.pop(key, None)

        return forget

    def agent_ids(self) -> set[int]:
        """The agents with an open session here."""
        return {agent_id for agent_id, _, _ in self._open.values()}

    def end_stale(self, epochs: Mapping[int, int], agent_ids: Iterable[int]) -> int:
        """End the sessions of `agent_ids` signed in before their agent's epoch in `epochs` (a missing agent is
        inactive: all of its sessions end); returns how many ended."""
        only = set(agent_ids)
        # Epochs only grow: a session newer than what was read (signed in again meanwhile) stays open.
        ended = [key for key, (agent_id, epoch, _) in self._open.items()
                 if agent_id in only and (agent_id not in epochs or epoch < epochs[agent_id])]
        for key in ended:
            _, _, end = self._open.pop(key)
            end()
        return len(ended)
