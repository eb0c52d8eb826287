"""Triage of inbound messages: flags, queue, priority with reasons, and conversation SLA state."""
from __future__ import annotations

from triage.conversation import ConversationState, ReceivedResult, conversation_state
from triage.rules import RulesError, SlaPolicy, TriageRules
from triage.triager import Triager
from triage.types import Contribution, TriageInput, TriageResult

__all__ = [
    "Contribution",
    "ConversationState",
    "ReceivedResult",
    "RulesError",
    "SlaPolicy",
    "TriageInput",
    "TriageResult",
    "TriageRules",
    "Triager",
    "conversation_state",
]
