"""Canned replies in the store: validation, case-insensitive names, roles, versions, events, seeding once."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text

from social_care.actions import Conflict, Forbidden, Invalid, NotFound
from social_care.store import canned
from social_care.store.agents import add_agent
from social_care.store.models import Agent, CannedReply, Event
from tests.social_care.conftest import Store, customer_message


async def _agents(store: Store) -> dict[str, Agent]:
    agents = {}
    for name, role in (("max", "manager"), ("ada", "admin"), ("alice", "agent"), ("mara", "marketing")):
        agents[name], _ = await add_agent(store.db, name, role)
    return agents


async def test_create_list_update_delete_records_who_did_each_change(store: Store) -> None:
    agents = await _agents(store)
    async with store.db.write() as session:
        reply = await canned.create_reply(session, agents["max"], "  Greeting ", "Hi {customer_name}", "en")
    assert (reply.name, reply.version, reply.created_by, reply.updated_by) == ("Greeting", 1, agents["max"].id,
                                                                               agents["max"].id)
    async with store.db.write() as session:
        await canned.create_reply(session, agents["ada"], "Apology", "Sorry, {customer_name}.", None)
        updated = await canned.update_reply(session, agents["ada"], reply.id,
                                            {"text": "Hello {customer_name}", "language": None}, version=1)
    assert (updated.text, updated.language, updated.version, updated.updated_by) == (
        "Hello {customer_name}", None, 2, agents["ada"].id)
    async with store.db.read() as session:
        assert [r.name for r in await canned.list_replies(session)] == ["Apology", "Greeting"]
        assert [r.name for r in await canned.list_replies(session, "hello")] == ["Greeting"]
        assert [r.name for r in await canned.list_replies(session, "SORRY apo")] == ["Apology"]
    async with store.db.write() as session:
        await canned.delete_reply(session, agents["max"], reply.id, version=2)
    async with store.db.read() as session:
        assert [r.name for r in await canned.list_replies(session)] == ["Apology"]
        events = (await session.scalars(select(Event).where(Event.kind.like("canned_%")).order_by(Event.id))).all()
    assert [(e.kind, e.agent_id) for e in events] == [
        ("canned_created", agents["max"].id), ("canned_created", agents["ada"].id),
        ("canned_updated", agents["ada"].id), ("canned_deleted", agents["max"].id)]
    assert events[2].data["changed"] == ["language", "text"] and events[2].data["previous"] == {"language": "en"}
    assert events[3].data["text"] == "Hello {customer_name}"  # a deletion can be undone by hand
    assert all(e.conversation_id is None for e in events)


@pytest.mark.parametrize(("name", "body", "language", "code"), [
    ("", "text", None, "name_empty"),
    ("   ", "text", None, "name_empty"),
    (None, "text", None, "name_empty"),
    ("x" * 101, "text", None, "name_long"),
    ("two\nlines", "text", None, "name_line"),
    ("bell\x07", "text", None, "name_line"),
    ("ok", "", None, "text_empty"),
    ("ok", " \n ", None, "text_empty"),
    ("ok", 42, None, "text_empty"),
    ("ok", "y" * 4097, None, "text_long"),
    ("ok", "text", "fr", "language"),
    ("ok", "text", "EN", "language"),
])
def test_validation_refuses_with_a_code_and_a_clear_reason(name: object, body: object, language: object,
                                                           code: str) -> None:
    with pytest.raises(canned.InvalidReply) as caught:
        canned.validate(name, body, language)
    assert caught.value.code == code
    assert isinstance(caught.value, Invalid) and caught.value.status == 400
    assert str(caught.value)


def test_the_limits_themselves_are_allowed() -> None:
    draft = canned.validate("n" * 100, "t" * 4096, "it")
    assert (len(draft.name), len(draft.text), draft.language) == (100, 4096, "it")
    assert canned.validate("ok", "text", "").language is None


async def test_names_are_unique_ignoring_case(store: Store) -> None:
    agents = await _agents(store)
    async with store.db.write() as session:
        first = await canned.create_reply(session, agents["max"], "Greeting", "Hi", None)
        other = await canned.create_reply(session, agents["max"], "Thanks", "Thank you", None)
    with pytest.raises(canned.NameTaken, match="Greeting"):
        async with store.db.write() as session:
            await canned.create_reply(session, agents["max"], "GREETING", "Hi again", None)
    with pytest.raises(Conflict):
        async with store.db.write() as session:
            await canned.update_reply(session, agents["max"], other.id, {"name": "greeting"})
    async with store.db.write() as session:  # changing the case of its own name is fine
        renamed = await canned.update_reply(session, agents["max"], first.id, {"name": "GREETING"})
    assert renamed.name == "GREETING" and renamed.version == 2


async def test_the_database_itself_refuses_a_second_name_differing_only_in_case(store: Store) -> None:
    agents = await _agents(store)
    async with store.db.write() as session:
        await canned.create_reply(session, agents["max"], "Straße", "text", None)
    # A writer that skipped the check (a race) still cannot store it: the casefolded key is unique.
    with pytest.raises(canned.NameTaken):
        async with store.db.write() as session:
            session.add(CannedReply(name="STRASSE", name_key=canned.name_key("STRASSE"), text="t", version=1))
            await canned._flush(session, "STRASSE")


@pytest.mark.parametrize("who", ["alice", "mara"])
async def test_only_managers_and_admins_edit(store: Store, who: str) -> None:
    agents = await _agents(store)
    async with store.db.write() as session:
        reply = await canned.create_reply(session, agents["max"], "Greeting", "Hi", None)
    for attempt in (
        lambda s: canned.create_reply(s, agents[who], "Mine", "text", None),
        lambda s: canned.update_reply(s, agents[who], reply.id, {"text": "changed"}),
        lambda s: canned.delete_reply(s, agents[who], reply.id),
    ):
        with pytest.raises(Forbidden):
            async with store.db.write() as session:
                await attempt(session)


async def test_a_stale_version_is_refused_and_unknown_ids_are_not_found(store: Store) -> None:
    agents = await _agents(store)
    async with store.db.write() as session:
        reply = await canned.create_reply(session, agents["max"], "Greeting", "Hi", None)
        await canned.update_reply(session, agents["ada"], reply.id, {"text": "Hi!"}, version=1)
    with pytest.raises(canned.StaleEdit, match="changed by someone else"):
        async with store.db.write() as session:
            await canned.update_reply(session, agents["max"], reply.id, {"text": "Hello"}, version=1)
    with pytest.raises(canned.StaleEdit):
        async with store.db.write() as session:
            await canned.delete_reply(session, agents["max"], reply.id, version=1)
    with pytest.raises(NotFound):
        async with store.db.write() as session:
            await canned.update_reply(session, agents["max"], 999, {"text": "x"})
    with pytest.raises(Invalid, match="unknown field"):
        async with store.db.write() as session:
            await canned.update_reply(session, agents["max"], reply.id, {"body": "x"})
    with pytest.raises(Invalid, match="nothing to change"):
        async with store.db.write() as session:
            await canned.update_reply(session, agents["max"], reply.id, {})
    async with store.db.write() as session:  # the same values again: no new version, no event
        same = await canned.update_reply(session, agents["max"], reply.id, {"text": "Hi!"}, version=2)
    assert same.version == 2


SEED = [("Greeting", "Hi {customer_name}", "en"), ("Saluto", "Ciao {customer_name}", "it")]


async def test_seeding_happens_once_and_deleted_replies_never_come_back(store: Store) -> None:
    agents = await _agents(store)
    async with store.db.write() as session:
        assert await canned.seed_once(session, lambda: SEED, source="canned_replies.toml") == 2
    async with store.db.write() as session:
        assert await canned.seed_once(session, lambda: SEED, source="canned_replies.toml") == 0
        for reply in await canned.list_replies(session):
            await canned.delete_reply(session, agents["max"], reply.id)
    loaded = []
    async with store.db.write() as session:
        assert await canned.seed_once(session, lambda: loaded.append(1) or SEED, source="x.toml") == 0
    assert loaded == []  # the file is not even read once seeding happened
    async with store.db.read() as session:
        assert await canned.list_replies(session) == []
        marks = (await session.scalars(select(Event).where(Event.kind == canned.SEEDED_EVENT))).all()
    assert [(m.data, m.agent_id) for m in marks] == [({"count": 2, "source": "canned_replies.toml"}, None)]


async def test_a_store_with_replies_already_is_not_seeded_but_marked(store: Store) -> None:
    agents = await _agents(store)
    async with store.db.write() as session:
        await canned.create_reply(session, agents["max"], "Ours", "text", None)
    async with store.db.write() as session:
        assert await canned.seed_once(session, lambda: SEED, source="f.toml") == 0
    async with store.db.write() as session:
        await session.execute(delete(CannedReply))
    async with store.db.write() as session:
        assert await canned.seed_once(session, lambda: SEED, source="f.toml") == 0


async def test_a_broken_seed_file_is_refused_naming_the_entry(store: Store) -> None:
    with pytest.raises(Invalid, match=r"f.toml: reply 2: the name 'greeting' is used twice"):
        async with store.db.write() as session:
            await canned.seed_once(session, lambda: [("Greeting", "a", None), ("greeting", "b", None)],
                                   source="f.toml")
    async with store.db.read() as session:  # nothing half-done: the next start tries again
        assert await session.scalar(select(Event.id).where(Event.kind == canned.SEEDED_EVENT)) is None


async def test_conversations_start_with_no_tags(store: Store) -> None:
    await store.ingest([customer_message(1)])
    async with store.db.write() as session:
        # The column's server default covers rows written without the ORM too.
        await session.execute(text(
            "INSERT INTO conversations (channel_id, contact_id, identity_id, thread_key, status, queue, queue_locked,"
            " priority, priority_reasons, public, created_at, updated_at)"
            " SELECT channel_id, contact_id, identity_id, 'other', status, queue, queue_locked, priority,"
            " priority_reasons, public, created_at, updated_at FROM conversations"))
    async with store.db.read() as session:
        assert (await session.scalars(text("SELECT tags FROM conversations ORDER BY id"))).all() in (
            [[], []], ["[]", "[]"])
