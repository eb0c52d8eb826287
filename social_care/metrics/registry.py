"""What metrics are computed with besides the log: the triage rules (SLA targets) and the business-hours calendar."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from social_care.metrics.business_hours import BusinessHours

if TYPE_CHECKING:
    from triage import TriageRules


@dataclass(frozen=True)
class MetricsConfig:
    """The rules (SLA targets) and the optional business-hours calendar figures are computed with."""

    rules: TriageRules
    business_hours: BusinessHours | None = None
