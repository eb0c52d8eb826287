"""Pure display helpers: durations, SLA states, one-line previews and flags; no HTML is produced here."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from console.i18n import Translator

SLA_NEAR_SECONDS = 15 * 60  # amber when less than this is left
PREVIEW_CHARS = 140
VIP_FOLLOWERS = 10_000

_WHITESPACE = re.compile(r"\s+")


def duration(seconds: float, t: Translator) -> str:
    """A short human duration: 45s, 12m, 3h 05m, 2d 4h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return t("time.s", n=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return t("time.m", n=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return t("time.h", h=hours, m=f"{minutes:02d}")
    days, hours = divmod(hours, 24)
    return t("time.d", d=days, h=hours)


def sla_state(due: datetime | None, now: datetime) -> str:
    """'none', 'ok', 'near' (amber) or 'breached' (red)."""
    if due is None:
        return "none"
    left = (due - now).total_seconds()
    if left < 0:
        return "breached"
    return "near" if left <= SLA_NEAR_SECONDS else "ok"


def sla_text(due: datetime | None, now: datetime, t: Translator) -> str:
    """'due in 12m', 'breached 3m' or 'no SLA'."""
    if due is None:
        return t("sla.none")
    left = (due - now).total_seconds()
    if left < 0:
        return t("sla.breached", ago=duration(-left, t))
    return t("sla.due_in", left=duration(left, t))


def one_line(text: str | None, limit: int = PREVIEW_CHARS) -> str:
    """Collapse whitespace and cut, so a preview never takes more than one line of text."""
    if not text:
        return ""
    flat = _WHITESPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def sentiment_label(score: float | None, label: str | None = None) -> str | None:
    """negative / neutral / positive from the stored label, or from the compound score."""
    if label in ("negative", "neutral", "positive"):
        return label
    if score is None:
        return None
    if score <= -0.05:
        return "negative"
    if score >= 0.05:
        return "positive"
    return "neutral"


def flags(*, public: bool, triage: dict[str, Any] | None, verified: bool | None, followers: int | None,
          reasons: list[str] | None = None) -> list[str]:
    """The flags the inbox shows, from what exists: public, complaint, angry, urgent, VIP."""
    triage = triage or {}
    found: list[str] = []
    if public or triage.get("public_complaint"):
        found.append("public")
    if triage.get("angry"):
        found.append("angry")
    if triage.get("urgent"):
        found.append("urgent")
    tags = {str(tag).lower() for tag in triage.get("tags", ())}
    reason_text = " ".join(reasons or []).lower()
    if verified or (followers or 0) >= VIP_FOLLOWERS or "vip" in tags or "vip" in reason_text:
        found.append("vip")
    return found


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC for the browser (which formats it in the agent's time zone)."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
