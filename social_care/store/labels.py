"""Agents' triage corrections exported as training data (JSON lines for `triage train --corrections`)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from social_care.store.db import Database
from social_care.store.models import Message, TriageLabel


async def export_corrections(db: Database) -> list[dict[str, Any]]:
    """One record per corrected message: its text and the latest value of every corrected field."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(TriageLabel.message_id, TriageLabel.labels, Message.text)
                .join(Message, Message.id == TriageLabel.message_id)
                .order_by(TriageLabel.message_id, TriageLabel.id)
            )
        ).all()
    merged: dict[int, dict[str, Any]] = {}
    for message_id, labels, text in rows:
        merged.setdefault(message_id, {"text": text}).update(labels)
    return list(merged.values())
