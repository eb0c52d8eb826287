"""Snooze and tags: the shared actions, their API routes, and the console commands that call them."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from console.commands import Commands
from social_care import actions
from social_care.store.models import Agent, Conversation, Event
from social_care.store.types import utcnow
from tests.social_care.api.test_routes import Api, api, seed  # noqa: F401 (fixture)


async def _events(api: Api, conversation_id: int, kind: str) -> list[Event]:
    async with api.runtime.db.read() as session:
        return list((await session.scalars(select(Event).where(Event.conversation_id == conversation_id,
                                                                 Event.kind == kind).order_by(Event.id))).all())


async def _put_tags(api: Api, conversation_id: int, tags: Any, who: str = "alice"):  # type: ignore[no-untyped-def]
    return await api.client.put(f"/api/conversations/{conversation_id}/tags", json={"tags": tags},
                                headers=api.auth(who))


async def test_snooze_through_the_api(api: Api) -> None:
    (cid,) = await seed(api, 1)
    seen: list[tuple[str, dict[str, Any]]] = []
    api.runtime.bus.subscribe(lambda topic, data: seen.append((topic, data)))
    until = (utcnow() + timedelta(hours=4)).astimezone(UTC).replace(microsecond=0)
    local = until.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    response = await api.post(f"/api/conversations/{cid}/snooze", {"until": until.isoformat()})
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "open"
    async with api.runtime.db.read() as session:
        conversation = await session.get(Conversation, cid)
    assert conversation is not None and conversation.snoozed_until == until
    (event,) = await _events(api, cid, "snoozed")
    assert event.data == {"until": until.isoformat()}
    assert ("conversation.changed", {"ids": [cid]}) in seen
    assert (await api.post(f"/api/conversations/{cid}/snooze", {"until": local})).status == 200
    zulu = until.isoformat().replace("+00:00", "Z")
    assert (await api.post(f"/api/conversations/{cid}/snooze", {"until": zulu})).status == 200


@pytest.mark.parametrize(("until", "reason"), [
    ("2030-01-01T10:00:00", "time zone"),
    ("2001-01-01T10:00:00+01:00", "in the future"),
    ("tomorrow", "not an ISO-8601"),
    (1735689600, "ISO-8601"),
])
async def test_bad_snooze_times_are_400(api: Api, until: object, reason: str) -> None:
    (cid,) = await seed(api, 1)
    response = await api.post(f"/api/conversations/{cid}/snooze", {"until": until})
    assert response.status == 400
    assert reason in (await response.json())["error"]


async def test_a_resolved_conversation_cannot_be_snoozed_and_hidden_ones_are_404(api: Api) -> None:
    (cid,) = await seed(api, 1)
    until = (utcnow() + timedelta(hours=1)).isoformat()
    assert (await api.post(f"/api/conversations/{cid}/status", {"status": "resolved"})).status == 200
    conflict = await api.post(f"/api/conversations/{cid}/snooze", {"until": until})
    assert conflict.status == 409 and "reopen" in (await conflict.json())["error"]
    assert (await api.post(f"/api/conversations/{cid}/snooze", {"until": until}, who="mara")).status == 404
    assert (await api.post("/api/conversations/999/snooze", {"until": until})).status == 404
    assert (await api.post(f"/api/conversations/{cid}/snooze", {})).status == 400


async def test_tags_are_replaced_deduplicated_and_recorded(api: Api) -> None:
    (cid,) = await seed(api, 1)
    first = await _put_tags(api, cid, ["lead", "pr", "lead", "vip-2026"])
    assert first.status == 200
    assert (await first.json())["tags"] == ["lead", "pr", "vip-2026"]
    second = await _put_tags(api, cid, ["pr", "praise"])
    assert (await second.json())["tags"] == ["pr", "praise"]
    assert (await _put_tags(api, cid, ["pr", "praise"])).status == 200  # no change, no event
    events = await _events(api, cid, "tagged")
    assert [e.data for e in events] == [
        {"added": ["lead", "pr", "vip-2026"], "removed": [], "tags": ["lead", "pr", "vip-2026"]},
        {"added": ["praise"], "removed": ["lead", "vip-2026"], "tags": ["pr", "praise"]},
    ]
    listed = await (await api.get("/api/conversations")).json()
    assert listed["conversations"][0]["tags"] == ["pr", "praise"]
    detail = await (await api.get(f"/api/conversations/{cid}")).json()
    assert detail["tags"] == ["pr", "praise"]
    assert (await (await _put_tags(api, cid, [])).json())["tags"] == []


@pytest.mark.parametrize(("tags", "reason"), [
    ("lead", "must be a list"),
    (["Lead"], "not a lowercase slug"),
    (["-lead"], "not a lowercase slug"),
    (["a" * 33], "not a lowercase slug"),
    (["has space"], "not a lowercase slug"),
    ([""], "not a lowercase slug"),
    ([7], "not a lowercase slug"),
    ([f"t{i}" for i in range(11)], "at most 10"),
])
async def test_bad_tags_are_400(api: Api, tags: object, reason: str) -> None:
    (cid,) = await seed(api, 1)
    response = await _put_tags(api, cid, tags)
    assert response.status == 400
    assert reason in (await response.json())["error"]


async def test_marketing_tags_only_its_own_queue(api: Api) -> None:
    support, marketing = await seed(api, 1, 2)
    async with api.runtime.db.write() as session:
        await session.execute(update(Conversation).where(Conversation.id == marketing).values(queue="marketing"))
    assert (await _put_tags(api, support, ["lead"], who="mara")).status == 404
    ok = await _put_tags(api, marketing, ["lead", "partnership"], who="mara")
    assert ok.status == 200 and (await ok.json())["tags"] == ["lead", "partnership"]
    assert (await _put_tags(api, 999, ["lead"])).status == 404


async def test_console_commands_snooze_and_tag_through_the_same_actions(api: Api) -> None:
    (cid,) = await seed(api, 1)
    commands = Commands(api.runtime.db, api.runtime.bus)
    async with api.runtime.db.read() as session:
        alice = await session.scalar(select(Agent).where(Agent.name == "alice"))
    assert alice is not None
    now = datetime(2030, 1, 1, 9, tzinfo=UTC)
    with pytest.raises(actions.Invalid, match="time zone"):
        await commands.snooze(alice.id, cid, datetime(2030, 1, 1, 10), now=now)
    with pytest.raises(actions.Invalid, match="future"):
        await commands.snooze(alice.id, cid, now, now=now)
    await commands.snooze(alice.id, cid, now + timedelta(hours=1), now=now)
    await commands.tag(alice.id, cid, ["praise", "praise"])
    async with api.runtime.db.read() as session:
        conversation = await session.get(Conversation, cid)
    assert conversation is not None
    assert conversation.snoozed_until == now + timedelta(hours=1) and conversation.tags == ["praise"]
    with pytest.raises(actions.Invalid):
        await commands.tag(alice.id, cid, ["Not A Slug"])
