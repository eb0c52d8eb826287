"""The REST API as an integration would use it: tokens, roles, filters, replies and errors."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from social_care.config import Settings
from social_care.service import build_app, build_runtime
from social_care.store.agents import add_agent
from social_care.store.models import Conversation, OutboxItem
from social_care.store.types import utcnow
from tests.social_care.conftest import customer_message


class Api:
    """A test client plus a token per role."""

    def __init__(self, client: TestClient, runtime, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.runtime = runtime
        self.tokens = tokens

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, path: str, who: str = "alice", **params: str):  # type: ignore[no-untyped-def]
        return await self.client.get(path, headers=self.auth(who), params=params)

    async def post(self, path: str, body: object, who: str = "alice"):  # type: ignore[no-untyped-def]
        return await self.client.post(path, json=body, headers=self.auth(who))


@pytest.fixture
async def api(database_url: str, aiohttp_client) -> AsyncIterator[Api]:  # type: ignore[no-untyped-def]
    settings = Settings(database_url=database_url, channels=({"platform": "telegram", "key": "acme", "token": "1:x"},))
    runtime = await build_runtime(settings, stages=[])
    tokens = {}
    for name, role in (("alice", "agent"), ("bruno", "agent"), ("mara", "marketing"), ("max", "manager")):
        _agent, tokens[name] = await add_agent(runtime.db, name, role)
    client = await aiohttp_client(build_app(runtime, background=False))
    yield Api(client, runtime, tokens)
    await runtime.db.dispose()


async def seed(api: Api, *chats: int) -> list[int]:
    """One conversation per chat; returns their ids in chat order."""
    ids = []
    for chat in chats:
        result = await api.runtime.ingest([customer_message(1, chat=chat, text=f"help from {chat}")])
        async with api.runtime.db.read() as session:
            ids.append(await session.scalar(select(Conversation.id).order_by(Conversation.id.desc()).limit(1)))
        assert result.stored
    return ids


async def test_health_and_openapi_need_no_token(api: Api) -> None:
    health = await api.client.get("/healthz")
    assert health.status == 200 and (await health.json())["database"] == "ok"
    spec = await (await api.client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/api/conversations/{id}/replies" in spec["paths"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sc_wrong"}, {"Authorization": "Basic abc"}])
async def test_missing_or_wrong_tokens_get_401(api: Api, headers: dict[str, str]) -> None:
    response = await api.client.get("/api/conversations", headers=headers)
    assert response.status == 401
    assert "error" in await response.json()
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_inbox_is_ordered_by_priority_then_sla_due(api: Api) -> None:
    a, b, c = await seed(api, 1, 2, 3)
    now = utcnow()
    async with api.runtime.db.write() as session:
        for cid, priority, due in ((a, 3, now + timedelta(hours=1)), (b, 1, now + timedelta(hours=4)),
                                   (c, 3, now + timedelta(minutes=5))):
            conversation = await session.get(Conversation, cid)
            conversation.priority, conversation.sla_due = priority, due
    body = await (await api.get("/api/conversations")).json()
    assert [row["id"] for row in body["conversations"]] == [b, c, a]
    assert body["conversations"][0]["priority"] == "P1"
    assert body["conversations"][0]["last_message"] == "help from 2"
    page = await (await api.get("/api/conversations", limit="2", offset="2")).json()
    assert [row["id"] for row in page["conversations"]] == [a] and page["next_offset"] is None


async def test_filters_and_their_validation(api: Api) -> None:
    first, second = await seed(api, 1, 2)
    assert (await api.post(f"/api/conversations/{first}/assign", {"assignee": "me"})).status == 200
    mine = await (await api.get("/api/conversations", assignee="me")).json()
    unassigned = await (await api.get("/api/conversations", assignee="none")).json()
    assert [r["id"] for r in mine["conversations"]] == [first]
    assert [r["id"] for r in unassigned["conversations"]] == [second]
    other_channel = await (await api.get("/api/conversations", channel="x")).json()
    assert other_channel["total"] == 0
    for params in ({"status": "bogus"}, {"limit": "0"}, {"limit": "abc"}, {"assignee": "nobody"}):
        response = await api.get("/api/conversations", **params)
        assert response.status == 400, params
        assert (await response.json())["error"]


async def test_a_reply_is_queued_in_the_outbox_and_shows_as_pending(api: Api) -> None:
    (cid,) = await seed(api, 1)
    detail = await (await api.get(f"/api/conversations/{cid}")).json()
    customer_msg = detail["messages"][0]
    response = await api.post(f"/api/conversations/{cid}/replies",
                              {"text": "Sorry! Checking your order now.", "reply_to_message_id": customer_msg["id"]})
    assert response.status == 202
    reply = await response.json()
    assert reply["delivery"]["status"] == "pending" and reply["agent"]["name"] == "alice"
    async with api.runtime.db.read() as session:
        item = await session.scalar(select(OutboxItem))
    assert item.text == "Sorry! Checking your order now." and item.reply_to_source_id == "1:1"
    detail = await (await api.get(f"/api/conversations/{cid}")).json()
    assert [m["direction"] for m in detail["messages"]] == ["inbound", "outbound"]
    assert "replied" in [e["kind"] for e in detail["events"]]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"text": ""}, 400), ({"text": "   "}, 400), ({"text": "x" * 4097}, 400), ({}, 400),
     ({"text": "ok", "mode": "public"}, 400), ({"text": "ok", "reply_to_message_id": 999}, 400),
     ({"text": 12}, 400)],
)
async def test_bad_replies_are_refused_and_nothing_is_queued(api: Api, body: dict, status: int) -> None:  # type: ignore[type-arg]
    (cid,) = await seed(api, 1)
    response = await api.post(f"/api/conversations/{cid}/replies", body)
    assert response.status == status
    assert (await response.json())["error"]
    async with api.runtime.db.read() as session:
        assert await session.scalar(select(OutboxItem)) is None


async def test_malformed_bodies_get_clear_4xx(api: Api) -> None:
    (cid,) = await seed(api, 1)
    path = f"/api/conversations/{cid}/notes"
    headers = api.auth("alice")
    bad_json = await api.client.post(path, data=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert bad_json.status == 400 and "Malformed JSON" in (await bad_json.json())["error"]
    wrong_type = await api.client.post(path, data=b"text=hi", headers={**headers, "Content-Type": "text/plain"})
    assert wrong_type.status == 415
    not_object = await api.client.post(path, data=b"[1]", headers={**headers, "Content-Type": "application/json"})
    assert not_object.status == 400
    huge = json.dumps({"text": "x" * (1024 * 1024 + 10)}).encode()
    too_large = await api.client.post(path, data=huge, headers={**headers, "Content-Type": "application/json"})
    assert too_large.status == 413 and "too large" in (await too_large.json())["error"]
    missing = await api.get("/api/conversations/999999")
    assert missing.status == 404 and (await missing.json())["error"]
    not_a_route = await api.get("/api/nothing-here")
    assert not_a_route.status == 404 and "error" in await not_a_route.json()


async def test_notes_stay_internal(api: Api) -> None:
    (cid,) = await seed(api, 1)
    response = await api.post(f"/api/conversations/{cid}/notes", {"text": "VIP, handle with care"})
    assert response.status == 201 and (await response.json())["direction"] == "note"
    async with api.runtime.db.read() as session:
        assert await session.scalar(select(OutboxItem)) is None


async def test_assignment_rules(api: Api) -> None:
    (cid,) = await seed(api, 1)
    assert (await api.post(f"/api/conversations/{cid}/assign", {"assignee": "me"}, who="alice")).status == 200
    taken = await api.post(f"/api/conversations/{cid}/assign", {"assignee": "me"}, who="bruno")
    assert taken.status == 409 and "alice" in (await taken.json())["error"]
    handing = await api.post(f"/api/conversations/{cid}/assign", {"assignee": "bruno"}, who="alice")
    assert handing.status == 403
    manager = await api.post(f"/api/conversations/{cid}/assign", {"assignee": "bruno", "force": True}, who="max")
    assert manager.status == 200 and (await manager.json())["assignee"]["name"] == "bruno"
    unknown = await api.post(f"/api/conversations/{cid}/assign", {"assignee": "ghost"}, who="max")
    assert unknown.status == 400
    detail = await (await api.get(f"/api/conversations/{cid}")).json()
    assert [e["agent"] for e in detail["events"] if e["kind"] == "assigned"] == ["alice", "max"]


async def test_resolve_and_reopen(api: Api) -> None:
    (cid,) = await seed(api, 1)
    resolved = await api.post(f"/api/conversations/{cid}/status", {"status": "resolved"})
    assert resolved.status == 200 and (await resolved.json())["status"] == "resolved"
    again = await api.post(f"/api/conversations/{cid}/status", {"status": "resolved"})
    assert again.status == 409
    assert (await api.post(f"/api/conversations/{cid}/status", {"status": "closed"})).status == 400
    listed = await (await api.get("/api/conversations")).json()
    assert listed["total"] == 0  # resolved conversations leave the default (open) inbox
    reopened = await api.post(f"/api/conversations/{cid}/status", {"status": "open"})
    kinds = [e["kind"] for e in (await reopened.json())["events"]]
    assert kinds[-2:] == ["resolved", "reopened"]


async def test_marketing_sees_only_its_queue(api: Api) -> None:
    support, praise = await seed(api, 1, 2)
    assert (await api.get(f"/api/conversations/{support}", who="mara")).status == 404
    assert (await api.post(f"/api/conversations/{support}/replies", {"text": "hi"}, who="mara")).status == 404
    forwarded = await api.post(f"/api/conversations/{praise}/forward",
                               {"queue": "marketing", "note": "Loves the new app, maybe a testimonial?"})
    assert forwarded.status == 200
    listed = await (await api.get("/api/conversations", who="mara")).json()
    assert [r["id"] for r in listed["conversations"]] == [praise]
    assert (await api.get("/api/conversations", who="mara", queue="support")).status == 403
    detail = await (await api.get(f"/api/conversations/{praise}", who="mara")).json()
    forward_event = next(e for e in detail["events"] if e["kind"] == "forwarded")
    assert forward_event["agent"] == "alice" and forward_event["data"]["note"].startswith("Loves")
    # Marketing hands it back to support and then no longer sees it.
    back = await api.post(f"/api/conversations/{praise}/forward", {"queue": "support"}, who="mara")
    assert back.status == 200
    assert (await api.get(f"/api/conversations/{praise}", who="mara")).status == 404


async def test_retry_is_refused_for_a_reply_that_is_not_failed(api: Api) -> None:
    (cid,) = await seed(api, 1)
    reply = await (await api.post(f"/api/conversations/{cid}/replies", {"text": "On it"})).json()
    response = await api.post(f"/api/messages/{reply['id']}/retry", {})
    assert response.status == 409 and "pending" in (await response.json())["error"]
    assert (await api.post("/api/messages/123456/retry", {})).status == 404
