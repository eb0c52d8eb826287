"""JSON shapes of the API's resources."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from social_care.store.models import Agent, CannedReply, Event, Message, OutboxItem
from social_care.store.queries import ConversationDetail, InboxRow


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def priority_label(priority: int) -> str:
    return f"P{priority}"


def agent_view(agent: Agent | None) -> dict[str, Any] | None:
    if agent is None:
        return None
    return {"name": agent.name, "display_name": agent.display_name, "role": agent.role}


def inbox_row_view(row: InboxRow) -> dict[str, Any]:
    c = row.conversation
    return {
        "id": c.id,
        "channel": {"platform": row.channel.platform, "key": row.channel.key, "name": row.channel.name},
        "customer": {
            "contact_id": row.contact.id,
            "name": row.identity.display_name or row.contact.name,
            "handle": row.identity.handle,
            "followers": row.identity.followers,
        },
        "status": c.status,
        "queue": c.queue,
        "priority": priority_label(c.priority),
        "priority_reasons": list(c.priority_reasons or []),
        "tags": list(c.tags or []),
        "public": c.public,
        "sentiment": c.sentiment,
        "assignee": agent_view(row.assignee),
        "sla_due": iso(c.sla_due),
        "waiting_since": iso(c.waiting_since),
        "last_inbound_at": iso(c.last_inbound_at),
        "last_message": row.last_inbound_text,
        "updated_at": iso(c.updated_at),
    }


def message_view(message: Message, outbox: OutboxItem | None, agents: dict[int, Agent]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": message.id,
        "direction": message.direction,
        "kind": message.kind,
        "text": message.text,
        "platform_message_id": message.platform_message_id,
        "public": message.public,
        "automated": message.automated,
        "in_reply_to": message.in_reply_to,
        "attachments": message.attachments,
        "sent_at": iso(message.sent_at),
        "received_at": iso(message.received_at),
        "edited_at": iso(message.edited_at),
        "agent": agent_view(agents.get(message.agent_id)) if message.agent_id else None,
    }
    if message.direction == "inbound":
        data["analysis"] = {
            "state": message.pipeline_state,
            "lang": message.lang,
            "sentiment": message.sentiment,
            "sentiment_label": message.sentiment_label,
            **({"triage": message.triage} if message.triage else {}),
        }
    if message.direction == "outbound":
        data["delivery"] = {
            "status": message.delivery_status,
            "error": message.delivery_error,
            "attempts": outbox.attempts if outbox else None,
            "next_attempt_at": iso(outbox.next_attempt_at) if outbox and outbox.state == "pending" else None,
            "outbox_id": outbox.id if outbox else None,
        }
    return data


def event_view(event: Event, agents: dict[int, Agent]) -> dict[str, Any]:
    agent = agents.get(event.agent_id) if event.agent_id else None
    return {
        "id": event.id,
        "kind": event.kind,
        "at": iso(event.at),
        "agent": agent.name if agent else None,
        "message_id": event.message_id,
        "data": event.data,
    }


def conversation_view(detail: ConversationDetail) -> dict[str, Any]:
    row = InboxRow(detail.conversation, detail.channel, detail.contact, detail.identity, detail.assignee, None)
    data = inbox_row_view(row)
    del data["last_message"]
    data["messages"] = [message_view(m, detail.outbox.get(m.id), detail.agents) for m in detail.messages]
    data["events"] = [event_view(e, detail.agents) for e in detail.events]
    data["created_at"] = iso(detail.conversation.created_at)
    data["resolved_at"] = iso(detail.conversation.resolved_at)
    return data


def canned_reply_view(reply: CannedReply, names: dict[int, str]) -> dict[str, Any]:
    """A canned reply; `names` maps agent ids to names for who created and last changed it."""
    return {
        "id": reply.id,
        "name": reply.name,
        "text": reply.text,
        "language": reply.language,
        "version": reply.version,
        "created_by": names.get(reply.created_by) if reply.created_by else None,
        "updated_by": names.get(reply.updated_by) if reply.updated_by else None,
        "created_at": iso(reply.created_at),
        "updated_at": iso(reply.updated_at),
    }
