"""Apply an agent's correction (queue or flags) to a stored triage result, keeping the score honest."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from triage import priority
from triage.rules import TriageRules
from triage.types import QUEUES, Contribution, TriageResult

FLAGS = ("complaint", "angry", "urgent")
# The `queue_reason` of a result whose queue an agent set: triage's own reason no longer explains it.
CORRECTED_QUEUE = "corrected by an agent"


class CorrectionError(ValueError):
    """The correction names an unknown field or a value of the wrong type."""


def validate(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The correction as a clean dict: `queue` one of the queues, flags booleans, at least one field."""
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "queue":
            if value not in QUEUES:
                raise CorrectionError(f"queue must be one of {', '.join(QUEUES)}")
        elif key in FLAGS:
            if not isinstance(value, bool):
                raise CorrectionError(f"{key} must be true or false")
        else:
            raise CorrectionError(f"{key} cannot be corrected; use queue, {', '.join(FLAGS)}")
        clean[key] = value
    if not clean:
        raise CorrectionError("nothing to correct: give queue, complaint, angry or urgent")
    return clean


def apply_correction(result: TriageResult, changes: Mapping[str, Any], rules: TriageRules, *, public: bool) -> TriageResult:
    """The result as the agent says it is: corrected flags replace triage's own points and reasons."""
    changes = validate(changes)
    flags = {flag: changes.get(flag, getattr(result, flag)) for flag in FLAGS}
    corrected = {flag for flag in FLAGS if flag in changes}
    parts = [c for c in result.breakdown if c.key not in corrected and c.key != "waiting"]
    if "complaint" in corrected and flags["complaint"]:
        parts.append(Contribution("complaint", "public complaint (agent)" if public else "complaint (agent)",
                                  priority.PUBLIC_COMPLAINT if public else priority.COMPLAINT))
    if "angry" in corrected and flags["angry"]:
        parts.append(Contribution("angry", "angry (agent)", priority.ANGRY))
    if "urgent" in corrected and flags["urgent"]:
        parts.append(Contribution("urgent", "urgent (agent)", priority.URGENT))
    queue = changes.get("queue", result.queue)
    score = priority.total(parts)
    level = "P4" if queue == "other" and score <= 0 else rules.priority_for(score)
    return replace(
        result,
        complaint=flags["complaint"],
        angry=flags["angry"],
        urgent=flags["urgent"],
        public_complaint=flags["complaint"] and public,
        queue=queue,
        queue_reason=CORRECTED_QUEUE if "queue" in changes else result.queue_reason,
        score=score,
        priority=level,
        reasons=tuple(c.reason for c in parts),
        breakdown=tuple(parts),
    )
