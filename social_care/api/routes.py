"""REST API handlers: conversations, replies, notes, assignment, status, snooze, tags, forwarding, retries, canned replies."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from social_care import actions
from social_care.api.http import BUS, CHANNEL_STATUS, DB, RULES, current_agent, json_response
from social_care.api.inputs import Body, path_id, query_choices, query_int, query_text, read_body
from social_care.api.openapi import openapi_document
from social_care.api.views import canned_reply_view, conversation_view, inbox_row_view, message_view
from social_care.permissions import can_see, visible_queues
from social_care.store import canned
from social_care.store.models import Agent, CannedReply, Conversation, ConversationStatus, Message, OutboxItem, Queue
from social_care.store.queries import InboxFilter, conversation_detail, list_conversations

routes = web.RouteTableDef()

MAX_PAGE = 100
REPLY_FIELDS = ("text", "reply_to_message_id", "mode", "public_text")
TRIAGE_FIELDS = ("queue", "complaint", "angry", "urgent")
CANNED_FIELDS = ("name", "text", "language")


def _changed(request: web.Request, conversation_id: int) -> None:
    request.app[BUS].publish("conversation.changed", ids=[conversation_id])


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    """Liveness and database reachability."""
    try:
        async with request.app[DB].read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as err:  # the point of a health check is to report this, not raise
        return json_response({"status": "error", "database": type(err).__name__}, status=503)
    return json_response({"status": "ok", "database": "ok"})


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    agent = current_agent(request)
    return json_response({"name": agent.name, "display_name": agent.display_name, "role": agent.role})


@routes.get("/api/channels")
async def channels(request: web.Request) -> web.Response:
    """Connected channels, whether each is up, and platform budgets (e.g. X rate limits)."""
    status = request.app.get(CHANNEL_STATUS)
    return json_response({"channels": status() if status else []})


@routes.get("/api/conversations")
async def list_view(request: web.Request) -> web.Response:
    agent = current_agent(request)
    statuses = query_choices(request, "status", {s.value for s in ConversationStatus} | {"all"})
    if statuses is None:
        statuses = ("open",)
    queues = query_choices(request, "queue", {q.value for q in Queue})
    allowed = visible_queues(agent)
    if allowed is not None:
        queues = tuple(q for q in (queues or allowed) if q in allowed)
        if not queues:
            raise actions.Forbidden("your role may only list the marketing queue")
    limit = query_int(request, "limit", 50, 1, MAX_PAGE)
    offset = query_int(request, "offset", 0, 0, 10_000_000)
    channel = query_text(request, "channel")
    platform = key = None
    if channel:
        platform, _, key = channel.partition(":")
    where = InboxFilter(
        statuses=None if "all" in statuses else statuses,
        queues=queues,
        platform=platform or None,
        channel_key=key or None,
    )
    assignee = query_text(request, "assignee")
    if assignee:
        async with request.app[DB].read() as session:
            if assignee == "none":
                where = replace(where, unassigned=True)
            else:
                name = agent.name if assignee == "me" else assignee
                assignee_id = await session.scalar(select(Agent.id).where(Agent.name == name))
                if assignee_id is None:
                    raise actions.Invalid(f"no agent named {name!r}")
                where = replace(where, assignee_id=assignee_id)
    async with request.app[DB].read() as session:
        rows, total = await list_conversations(session, where, limit=limit, offset=offset)
    next_offset = offset + len(rows) if offset + len(rows) < total else None
    return json_response(
        {"conversations": [inbox_row_view(r) for r in rows], "total": total, "offset": offset,
         "limit": limit, "next_offset": next_offset}
    )


@routes.get("/api/conversations/{id}")
async def detail_view(request: web.Request) -> web.Response:
    agent = current_agent(request)
    conversation_id = path_id(request)
    async with request.app[DB].read() as session:
        conversation = await actions.load_conversation(session, agent, conversation_id)
        detail = await conversation_detail(session, conversation)
    return json_response(conversation_view(detail))


@routes.post("/api/conversations/{id}/replies")
async def post_reply(request: web.Request) -> web.Response:
    agent = current_agent(request)
    conversation_id = path_id(request)
    body = await read_body(request, fields=REPLY_FIELDS)
    text_ = body.required_text("text")
    reply_to = body.row_id("reply_to_message_id")
    mode = body.text("mode")
    public_text = body.text("public_text", nullable=True)
    async with request.app[DB].write() as session:
        outcome = await actions.reply(session, agent, conversation_id, text_, reply_to_message_id=reply_to,
                                      mode="private" if mode is None else mode, public_text=public_text)
        view = message_view(outcome.message, outcome.outbox, {agent.id: agent})
    request.app[BUS].publish("outbox.enqueued", id=outcome.outbox.id)
    _changed(request, conversation_id)
    return json_response(view, status=202)


@routes.post("/api/conversations/{id}/notes")
async def post_note(request: web.Request) -> web.Response:
    agent = current_agent(request)
    conversation_id = path_id(request)
    body = await read_body(request, fields=("text",))
    text_ = body.required_text("text")
    async with request.app[DB].write() as session:
        message = await actions.add_note(session, agent, conversation_id, text_)
        view = message_view(message, None, {agent.id: agent})
    _changed(request, conversation_id)
    return json_response(view, status=201)


async def _conversation_response(request: web.Request, conversation_id: int) -> web.Response:
    agent = current_agent(request)
    async with request.app[DB].read() as session:
        conversation = await actions.load_conversation(session, agent, conversation_id)
        detail = await conversation_detail(session, conversation)
    _changed(request, conversation_id)
    return json_response(conversation_view(detail))


@routes.post("/api/conversations/{id}/assign")
async def post_assign(request: web.Request) -> web.Response:
    agent = current_agent(request)
    conversation_id = path_id(request)
    body = await read_body(request, fields=("assignee", "force"))
    name = body.text("assignee", required=True, nullable=True)
    assignee = agent.name if name == "me" else name
    force = body.boolean("force") is True
    async with request.app[DB].write() as session:
        await actions.assign(session, agent, conversation_id, assignee, force=force)
    return await _conversation_response(request, conversation_id)


ConversationAction = Callable[[AsyncSession, Agent, int, Any], Awaitable[object]]


async def _act(request: web.Request, field: str, read: Callable[[Body], object], act: ConversationAction) -> web.Response:
    """Read the body's one `field` with `read`, run `act` in one write transaction, answer with the conversation."""
    agent = current_agent(request)
    conversation_id = path_id(request)
    body = await read_body(request, fields=(field,))
    value = read(body)
    async with request.app[DB].write() as session:
        await act(session, agent, conversation_id, value)
    return await _conversation_response(request, conversation_id)


@routes.post("/api/conversations/{id}/status")
async def post_status(request: web.Request) -> web.Response:
    return await _act(request, "status", lambda body: body.required_text("status"), actions.set_status)


def _datetime(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise actions.Invalid(f"{name} must be an ISO-8601 date-time string with an offset, e.g. 2026-11-22T18:00:00+01:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise actions.Invalid(f"{name} is not an ISO-8601 date-time: {value[:40]!r}") from err
    if parsed.tzinfo is None:
        raise actions.Invalid(f"{name} needs a time zone offset (Z or +01:00)")
    try:
        parsed.astimezone(UTC)
    except OverflowError as err:  # e.g. 9999-12-31T23:00-05:00 is past the last instant Python can hold
        raise actions.Invalid(f"{name} is out of range: {value[:40]!r}") from err
    return parsed


@routes.post("/api/conversations/{id}/snooze")
async def post_snooze(request: web.Request) -> web.Response:
    return await _act(request, "until", lambda body: _datetime(body.required("until"), "until"),
                      actions.snooze)


@routes.put("/api/conversations/{id}/tags")
async def put_tags(request: web.Request) -> web.Response:
    return await _act(request, "tags", lambda body: body.required("tags"), actions.tag)


@routes.post("/api/conversations/{id}/forward")
async def post_forward(request: web.Request) -> web.Response:
    agent = current_agent(request)
    conversation_id = path_id(request)
    body = await read_body(request, fields=("queue", "note"))
    queue = body.required_text("queue")
    note = body.text("note", nullable=True)
    async with request.app[DB].write() as session:
        conversation = await actions.forward(session, agent, conversation_id, queue, note)
        still_visible = can_see(agent, conversation)
    if not still_visible:
        _changed(request, conversation_id)
        return json_response({"id": conversation_id, "queue": queue, "forwarded": True})
    return await _conversation_response(request, conversation_id)


async def _message_for(request: web.Request, message_id: int) -> tuple[Message, OutboxItem | None]:
    agent = current_agent(request)
    async with request.app[DB].read() as session:
        message = await session.get(Message, message_id)
        if message is None:
            raise actions.NotFound(f"message {message_id} not found")
        conversation = await session.get(Conversation, message.conversation_id)
        if conversation is None or not can_see(agent, conversation):
            raise actions.NotFound(f"message {message_id} not found")
        outbox = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        return message, outbox


@routes.get("/api/messages/{id}")
async def get_message(request: web.Request) -> web.Response:
    message, outbox = await _message_for(request, path_id(request))
    agents: dict[int, Any] = {}
    if message.agent_id:
        async with request.app[DB].read() as session:
            author = await session.get(Agent, message.agent_id)
            if author:
                agents[author.id] = author
    return json_response(message_view(message, outbox, agents))


@routes.post("/api/messages/{id}/triage")
async def post_triage_correction(request: web.Request) -> web.Response:
    """An agent corrects a customer message's queue or flags; stored as a label for retraining."""
    from social_care.pipeline.conversation_state import refresh_conversation

    agent = current_agent(request)
    message_id = path_id(request)
    body = await read_body(request, fields=None)  # the correction's validator names what cannot be corrected
    changes: dict[str, object] = dict(body)
    if "queue" in body:
        changes["queue"] = body.required_text("queue")
    for flag in TRIAGE_FIELDS[1:]:
        if flag in body:
            changes[flag] = body.boolean(flag)
    rules = request.app[RULES]
    async with request.app[DB].write() as session:
        message = await actions.correct_triage(session, agent, message_id, changes, rules)  # type: ignore[arg-type]
        await session.flush()
        await refresh_conversation(session, message.conversation_id, rules)  # type: ignore[arg-type]
        conversation_id = message.conversation_id
    _changed(request, conversation_id)
    message, outbox = await _message_for(request, message_id)
    return json_response(message_view(message, outbox, {}))


@routes.post("/api/messages/{id}/retry")
async def post_retry(request: web.Request) -> web.Response:
    agent = current_agent(request)
    message_id = path_id(request)
    async with request.app[DB].write() as session:
        item = await actions.retry_reply(session, agent, message_id)
        conversation_id = item.conversation_id
    request.app[BUS].publish("outbox.enqueued", id=item.id)
    _changed(request, conversation_id)
    message, outbox = await _message_for(request, message_id)
    return json_response(message_view(message, outbox, {agent.id: agent}), status=202)


# --- canned replies ------------------------------------------------------------------------------


async def _agent_names(session: Any, replies: Iterable[CannedReply]) -> dict[int, str]:
    ids = {i for r in replies for i in (r.created_by, r.updated_by) if i}
    if not ids:
        return {}
    return dict((await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))).all())


def _canned_changed(request: web.Request, reply_id: int) -> None:
    request.app[BUS].publish(canned.TOPIC, ids=[reply_id])


@routes.get("/api/canned-replies")
async def list_canned(request: web.Request) -> web.Response:
    """Every canned reply (any signed-in role); `q` keeps those whose name or text has every word."""
    current_agent(request)
    language = query_text(request, "language")
    if language is not None:
        language = canned.clean_language(language)
    words = query_text(request, "q") or ""
    async with request.app[DB].read() as session:
        replies = await canned.list_replies(session, words)
        if language is not None:
            replies = [r for r in replies if r.language in (None, language)]
        names = await _agent_names(session, replies)
    return json_response({"canned_replies": [canned_reply_view(r, names) for r in replies]})


@routes.post("/api/canned-replies")
async def create_canned(request: web.Request) -> web.Response:
    agent = current_agent(request)
    canned.require_editor(agent)
    body = await read_body(request, fields=CANNED_FIELDS)
    name, text_ = body.required_text("name"), body.required_text("text")
    language = body.text("language", nullable=True)
    async with request.app[DB].write() as session:
        reply = await canned.create_reply(session, agent, name, text_, language)
        view = canned_reply_view(reply, {agent.id: agent.name})
    _canned_changed(request, reply.id)
    return json_response(view, status=201)


@routes.patch("/api/canned-replies/{id}")
async def update_canned(request: web.Request) -> web.Response:
    """Change name, text and/or language; pass the `version` you read to refuse overwriting someone's edit."""
    agent = current_agent(request)
    reply_id = path_id(request)
    canned.require_editor(agent)
    body = await read_body(request, fields=(*CANNED_FIELDS, "version"))
    changes: dict[str, object] = {name: body.text(name) for name in ("name", "text") if name in body}
    if "language" in body:
        changes["language"] = body.text("language", nullable=True)
    version = body.integer("version", low=1)  # compared, never looked up
    async with request.app[DB].write() as session:
        reply = await canned.update_reply(session, agent, reply_id, changes, version=version)
        view = canned_reply_view(reply, await _agent_names(session, [reply]))
    _canned_changed(request, reply_id)
    return json_response(view)


@routes.delete("/api/canned-replies/{id}")
async def delete_canned(request: web.Request) -> web.Response:
    agent = current_agent(request)
    reply_id = path_id(request)
    version = None
    if "version" in request.query:
        version = query_int(request, "version", 0, 1, 2**31 - 1)
    async with request.app[DB].write() as session:
        await canned.delete_reply(session, agent, reply_id, version=version)
    _canned_changed(request, reply_id)
    return web.Response(status=204)
