"""Response times, SLA, backlog, sentiment trends, volume and spikes, recomputed from the event log (docs/metrics.md)."""
from __future__ import annotations

from social_care.metrics.business_hours import BusinessHours, BusinessHoursError
from social_care.metrics.engine import MetricsError, compute
from social_care.metrics.report import MetricsReport
from social_care.metrics.spikes import SpikeCheck, spike_checks

__all__ = ["BusinessHours", "BusinessHoursError", "MetricsError", "MetricsReport", "SpikeCheck", "compute",
           "spike_checks"]
