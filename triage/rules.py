"""Brand rules from the `[triage]` TOML table: keyword/regex rules, VIPs, ignored words, SLA targets.

```toml
[triage]
vip_handles = ["@bigclient"]
ignore_words = ["Virgin", "Best Buy"]        # brand and product names that are not sentiment
public_channels = []                          # channels whose every message is public (optional)

[[triage.rules]]
match = "refund"                              # keyword or phrase, case-insensitive, whole words
queue = "support"                             # optional: force the queue
priority_bump = 2                             # optional: points added to the score
tag = "billing"                               # optional

[[triage.rules]]
regex = "order\\s*#?\\d{6}"                   # or a regular expression

[triage.priority]                             # minimum score for each priority (P4 below P3)
P1 = 6
P2 = 4
P3 = 2

[triage.sla]                                  # minutes to first response, per priority
P1 = 60
P2 = 240
P3 = 1440
P4 = 4320
marketing = 2880                              # optional; absent = marketing is not on the clock

[triage.sla.channels.x]                       # optional per-channel overrides
P1 = 30
```
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from triage.types import PRIORITIES, QUEUES


class RulesError(ValueError):
    """The `[triage]` table is malformed; the message names the offending key."""


DEFAULT_THRESHOLDS = {"P1": 6, "P2": 4, "P3": 2}
DEFAULT_SLA_MINUTES = {"P1": 60, "P2": 240, "P3": 1440, "P4": 4320}


@dataclass(frozen=True, slots=True)
class Rule:
    """A brand rule: when `pattern` matches the text, set the queue, add points and/or a tag."""

    label: str
    pattern: re.Pattern[str]
    queue: str | None = None
    priority_bump: int = 0
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """First-response targets per priority, with per-channel overrides and an optional marketing target."""

    minutes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_MINUTES))
    channels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    marketing_minutes: int | None = None

    def target(self, priority: str, queue: str, channel: str | None) -> timedelta | None:
        """Time allowed before the first answer; None when the thread is not on the clock."""
        if queue == "other":
            return None
        if queue == "marketing":
            return None if self.marketing_minutes is None else timedelta(minutes=self.marketing_minutes)
        override = self.channels.get(channel or "", {})
        minutes = override.get(priority, self.minutes.get(priority))
        return None if minutes is None else timedelta(minutes=minutes)


@dataclass(frozen=True, slots=True)
class TriageRules:
    """The parsed `[triage]` table."""

    rules: tuple[Rule, ...] = ()
    vip_handles: frozenset[str] = frozenset()
    ignore_words: frozenset[str] = frozenset()
    public_channels: frozenset[str] = frozenset()
    thresholds: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    sla: SlaPolicy = field(default_factory=SlaPolicy)

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None) -> TriageRules:
        """Parse and validate the `[triage]` table (None or {} gives the defaults)."""
        table = dict(table or {})
        known = {"rules", "vip_handles", "ignore_words", "public_channels", "priority", "sla"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise RulesError(f"triage: unknown key(s) {', '.join(unknown)}")
        rules = tuple(_rule(i, raw) for i, raw in enumerate(_list(table, "rules")))
        thresholds = dict(DEFAULT_THRESHOLDS)
        for key, value in dict(table.get("priority", {})).items():
            if key not in DEFAULT_THRESHOLDS:
                raise RulesError(f"triage.priority: unknown key {key!r} (use P1, P2, P3)")
            thresholds[key] = _int(f"triage.priority.{key}", value)
        if not thresholds["P1"] >= thresholds["P2"] >= thresholds["P3"]:
            raise RulesError("triage.priority: thresholds must satisfy P1 >= P2 >= P3")
        return cls(
            rules=rules,
            vip_handles=frozenset(_handle(h) for h in _strings(table, "vip_handles")),
            ignore_words=frozenset(_strings(table, "ignore_words")),
            public_channels=frozenset(_strings(table, "public_channels")),
            thresholds=thresholds,
            sla=_sla(dict(table.get("sla", {}))),
        )

    def is_vip(self, handle: str | None) -> bool:
        """Whether the author's handle is on the VIP list (case and a leading @ do not matter)."""
        return bool(handle) and _handle(handle) in self.vip_handles

    def priority_for(self, score: int) -> str:
        """The priority an additive score maps to."""
        for name in ("P1", "P2", "P3"):
            if score >= self.thresholds[name]:
                return name
        return "P4"


def _handle(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


def _list(table: Mapping[str, Any], key: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise RulesError(f"triage.{key}: expected a list")
    return value


def _strings(table: Mapping[str, Any], key: str) -> list[str]:
    values = _list(table, key)
    if not all(isinstance(v, str) for v in values):
        raise RulesError(f"triage.{key}: expected a list of strings")
    return values


def _int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RulesError(f"{where}: expected an integer, got {value!r}")
    return value


def _rule(index: int, raw: Any) -> Rule:
    where = f"triage.rules[{index}]"
    if not isinstance(raw, Mapping):
        raise RulesError(f"{where}: expected a table")
    unknown = sorted(set(raw) - {"match", "regex", "queue", "priority_bump", "tag"})
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if ("match" in raw) == ("regex" in raw):
        raise RulesError(f"{where}: give exactly one of 'match' (keyword) or 'regex'")
    if "match" in raw:
        keyword = str(raw["match"]).strip()
        if not keyword:
            raise RulesError(f"{where}.match: empty keyword")
        words = r"\s+".join(re.escape(part) for part in keyword.split())
        pattern = re.compile(r"(?<!\w)" + words + r"(?!\w)", re.IGNORECASE)
        label = keyword
    else:
        try:
            pattern = re.compile(str(raw["regex"]), re.IGNORECASE)
        except re.error as err:
            raise RulesError(f"{where}.regex: {err}") from err
        label = str(raw["regex"])
    queue = raw.get("queue")
    if queue is not None and queue not in QUEUES:
        raise RulesError(f"{where}.queue: {queue!r} is not one of {', '.join(QUEUES)}")
    tag = raw.get("tag")
    if tag is not None and (not isinstance(tag, str) or not tag.strip()):
        raise RulesError(f"{where}.tag: expected a non-empty string")
    bump = _int(f"{where}.priority_bump", raw.get("priority_bump", 0))
    if queue is None and tag is None and bump == 0:
        raise RulesError(f"{where}: a rule needs a queue, a priority_bump or a tag")
    return Rule(label, pattern, queue, bump, tag.strip() if tag else None)


def _sla(raw: dict[str, Any]) -> SlaPolicy:
    minutes = dict(DEFAULT_SLA_MINUTES)
    channels: dict[str, dict[str, int]] = {}
    marketing: int | None = None
    for key, value in raw.items():
        if key in PRIORITIES:
            minutes[key] = _positive(f"triage.sla.{key}", value)
        elif key == "marketing":
            marketing = _positive("triage.sla.marketing", value)
        elif key == "channels":
            if not isinstance(value, Mapping):
                raise RulesError("triage.sla.channels: expected a table of channels")
            for channel, targets in value.items():
                if not isinstance(targets, Mapping) or not set(targets) <= set(PRIORITIES):
                    raise RulesError(f"triage.sla.channels.{channel}: expected P1..P4 minutes")
                channels[str(channel)] = {
                    p: _positive(f"triage.sla.channels.{channel}.{p}", m) for p, m in targets.items()
                }
        else:
            raise RulesError(f"triage.sla: unknown key {key!r}")
    return SlaPolicy(minutes, channels, marketing)


def _positive(where: str, value: Any) -> int:
    number = _int(where, value)
    if number <= 0:
        raise RulesError(f"{where}: must be a positive number of minutes")
    return number
