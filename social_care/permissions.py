"""Who may see and do what: one place for the role rules the API and the console share."""
from __future__ import annotations

from social_care.store.models import Agent, Conversation, Queue, Role

STAFF = frozenset({Role.AGENT, Role.MANAGER, Role.ADMIN})
SUPERVISORS = frozenset({Role.MANAGER, Role.ADMIN})
# Everyone signed in works on the conversations they can see (marketing: its own queue only).
WORKING_ROLES = frozenset(Role)


def can_see(agent: Agent, conversation: Conversation) -> bool:
    """Marketing sees only the marketing queue; everyone else sees everything."""
    if agent.role == Role.MARKETING:
        return conversation.queue == Queue.MARKETING
    return agent.role in STAFF


def can_assign_others(agent: Agent) -> bool:
    """Only managers and admins hand conversations to someone else or take them from someone."""
    return agent.role in SUPERVISORS


def visible_queues(agent: Agent) -> tuple[str, ...] | None:
    """The queues an agent may list, or None for all."""
    if agent.role == Role.MARKETING:
        return (Queue.MARKETING.value,)
    return None
