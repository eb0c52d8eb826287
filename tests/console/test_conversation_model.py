"""The conversation view-model: thread, composer, collision warning, clocks and actions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from console.context import SessionExpired
from console.i18n import Translator
from console.viewmodels.conversation import ConversationModel
from social_care.store.models import Conversation, Event, Message, OutboxItem
from tests.console.conftest import World


def model(world: World, name: str = "giulia", language: str = "en") -> ConversationModel:
    m = ConversationModel(world.context, world.session_agent(name, language=language), Translator(language))
    m.bind_session(f"session-{name}")
    return m


async def _deliver(world: World, message_id: int, state: str, error: str | None = None) -> None:
    async with world.db.write() as session:
        await session.execute(update(Message).where(Message.id == message_id)
                              .values(delivery_status=state, delivery_error=error))
        await session.execute(update(OutboxItem).where(OutboxItem.message_id == message_id).values(state=state))


async def test_a_reply_shows_pending_at_once_and_sent_after_the_platform_confirms(world: World) -> None:
    await world.customer_writes("Where is my parcel?", chat=1, name="Anna")
    conversation = model(world)
    assert await conversation.open(1)
    assert [m["direction"] for m in conversation.thread["messages"]] == ["inbound"]
    conversation.text = "On its way, Anna!"
    assert await conversation.send()
    assert conversation.text == ""
    reply = conversation.thread["messages"][-1]
    assert reply["direction"] == "outbound" and reply["delivery"]["status"] == "pending"
    assert reply["delivery"]["label"] == "sending…"
    await _deliver(world, reply["id"], "sent")
    await conversation.refresh()
    assert conversation.thread["messages"][-1]["delivery"]["label"] == "sent"
    assert ("outbox.enqueued" in [topic for topic, _ in world.published])


async def test_failed_and_unknown_replies_explain_themselves_and_can_be_retried(world: World) -> None:
    await world.customer_writes("hello", chat=1)
    conversation = model(world)
    await conversation.open(1)
    conversation.text = "hi"
    await conversation.send()
    reply_id = conversation.thread["messages"][-1]["id"]
    await _deliver(world, reply_id, "failed", "Forbidden: bot was blocked by the user")
    await conversation.refresh()
    delivery = conversation.thread["messages"][-1]["delivery"]
    assert delivery["retry"] and "bot was blocked by the user" in delivery["label"]
    assert await conversation.act("retry", message_id=reply_id)
    assert conversation.thread["messages"][-1]["delivery"]["status"] == "pending"
    await _deliver(world, reply_id, "unknown", "delivery unknown: timeout")
    await conversation.refresh()
    delivery = conversation.thread["messages"][-1]["delivery"]
    assert delivery["retry"] and "Check the conversation on the platform" in delivery["help"]


async def test_empty_and_over_limit_replies_are_refused_with_a_clear_message(world: World) -> None:
    await world.customer_writes("@acme hello", chat=9, platform="x", public=True, name="Xavier")
    conversation = model(world)
    await conversation.open(1)
    assert conversation.modes == ["public", "private", "move_to_dm"] and conversation.mode == "public"
    conversation.text = "   "
    assert not await conversation.send()
    assert conversation.error == "The reply is empty: write something before sending."
    conversation.text = "x" * 281
    assert conversation.limit == 280 and conversation.used == 281
    assert not await conversation.send()
    assert conversation.error == "The reply is 281 characters as X counts them; the limit is 280."
    conversation.mode = "private"
    assert conversation.limit == 10_000
    assert await conversation.send()
    async with world.db.read() as session:
        assert await session.scalar(select(OutboxItem.mode)) == "private"


async def test_notes_are_kept_apart_and_never_queued(world: World) -> None:
    await world.customer_writes("hello", chat=1)
    conversation = model(world)
    await conversation.open(1)
    conversation.note_mode = True
    conversation.text = "VIP, be gentle"
    assert await conversation.send()
    note = conversation.thread["messages"][-1]
    assert note["direction"] == "note" and "delivery" not in note
    async with world.db.read() as session:
        assert await session.scalar(select(OutboxItem.id)) is None


@pytest.mark.parametrize("text", ["see you\x00tomorrow", "broken \ud83d half an emoji"])
async def test_text_the_store_cannot_hold_is_refused_with_a_reason_and_nothing_is_queued(world: World,
                                                                                         text: str) -> None:
    await world.customer_writes("hello", chat=1)
    conversation = model(world)
    await conversation.open(1)
    conversation.text = text
    assert not await conversation.send()
    assert "NUL" in conversation.error or "surrogate" in conversation.error
    assert conversation.text == text  # the draft is kept to be fixed
    async with world.db.read() as session:
        assert await session.scalar(select(OutboxItem.id)) is None


async def test_a_send_finishing_after_the_agent_opened_another_thread_leaves_that_thread_alone(
        world: World) -> None:
    await world.customer_writes("first customer", chat=1)
    await world.customer_writes("second customer", chat=2)
    conversation = model(world)
    await conversation.open(1)
    conversation.text = "Reply to the first"
    real_reply = world.context.commands.reply

    async def reply_then_switch(*args, **kwargs):  # type: ignore[no-untyped-def]
        sent = await real_reply(*args, **kwargs)
        await conversation.open(2)  # the agent moved on while the reply was being stored
        conversation.text = "draft for the second"
        return sent

    world.context.commands.reply = reply_then_switch  # type: ignore[method-assign]
    assert await conversation.send()
    assert conversation.text == "draft for the second"
    assert conversation.info == ""


async def test_canned_replies_are_found_by_name_and_filled_in(world: World) -> None:
    await world.customer_writes("hello", chat=1, name="Anna Bianchi")
    conversation = model(world)
    await conversation.open(1)
    (greeting,) = [r for r in conversation.canned("greet") if r.language == "en"]
    conversation.insert_canned(greeting)
    assert conversation.text.startswith("Hi Anna Bianchi, this is Giulia from ACME.")
    assert conversation.canned("saluto")[0].name == "Saluto"


async def test_another_agents_reply_while_typing_warns_before_sending(world: World) -> None:
    await world.customer_writes("is anyone there?", chat=1, name="Anna")
    giulia, luca = model(world, "giulia"), model(world, "luca")
    await giulia.open(1)
    await luca.open(1)
    assert giulia.viewers == [] or giulia.viewers == ["luca"]
    giulia.update_viewers()
    assert giulia.viewers == ["luca"]
    giulia.text = "Hi Anna, checking now"
    luca.text = "Hello Anna!"
    assert await luca.send()
    # Giulia's session has not refreshed yet: the check at Send catches it.
    assert not await giulia.send()
    assert giulia.warning.startswith("Luca replied while you were typing")
    assert [m["text"] for m in giulia.thread["messages"] if m["direction"] == "outbound"] == ["Hello Anna!"]
    assert giulia.text == "Hi Anna, checking now"  # the draft is kept
    assert await giulia.send()  # second press: sent anyway
    assert giulia.warning == ""


async def test_a_live_refresh_shows_the_warning_while_typing(world: World) -> None:
    await world.customer_writes("hello?", chat=1, name="Anna")
    giulia, luca = model(world, "giulia"), model(world, "luca")
    await giulia.open(1)
    await luca.open(1)
    giulia.text = "typing…"
    luca.text = "Hi!"
    await luca.send()
    await giulia.refresh()
    assert "Luca replied while you were typing" in giulia.warning


async def test_clocks_wait_until_a_human_answers(world: World) -> None:
    t0 = world.clock.now()
    await world.customer_writes("first", chat=1, at=t0 - timedelta(minutes=10))
    await world.customer_writes("second", chat=1, at=t0 - timedelta(minutes=5))
    conversation = model(world)
    await conversation.open(1)
    clocks = conversation.thread["clocks"]
    assert clocks["waiting_since"] == (t0 - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert clocks["first_response_seconds"] is None
    conversation.text = "answer"
    await conversation.send()
    # Queued is not answered: the customer cannot read it until the platform accepts it.
    assert conversation.thread["clocks"]["waiting_since"] == clocks["waiting_since"]
    async with world.db.write() as session:
        await session.execute(update(Message).where(Message.direction == "outbound")
                              .values(delivery_status="sent", sent_at=t0 + timedelta(minutes=2)))
    await conversation.refresh()
    clocks = conversation.thread["clocks"]
    assert clocks["waiting_since"] is None and clocks["first_response_seconds"] == 12 * 60


async def test_actions_are_recorded_as_events(world: World) -> None:
    await world.customer_writes("hello", chat=1)
    conversation = model(world)
    await conversation.open(1)
    assert await conversation.act("claim")
    assert conversation.thread["assignee"] == "giulia"
    assert await conversation.act("snooze", until=world.clock.now() + timedelta(hours=1))
    assert conversation.thread["snoozed_until"]
    assert not await conversation.act("correct", angry=True)
    assert "triaged" in conversation.error
    assert await conversation.act("resolve")
    assert conversation.thread["status"] == "resolved"
    assert await conversation.act("reopen")
    assert await conversation.act("forward", note="Partnership request, over to you")
    assert conversation.thread["queue"] == "marketing"
    kinds = [e["kind"] for e in conversation.thread["events"]]
    for kind in ("assigned", "snoozed", "resolved", "reopened", "forwarded"):
        assert kind in kinds
    notes = [m for m in conversation.thread["messages"] if m["direction"] == "note"]
    assert notes[-1]["text"] == "Partnership request, over to you"


async def test_an_agent_cannot_take_a_colleagues_conversation_but_a_manager_can(world: World) -> None:
    await world.customer_writes("hello", chat=1)
    luca, giulia, marco = model(world, "luca"), model(world, "giulia"), model(world, "marco")
    for m in (luca, giulia, marco):
        await m.open(1)
    assert await luca.act("claim")
    assert not await giulia.act("claim")
    assert "already assigned to luca" in giulia.error
    assert not await giulia.act("assign", assignee="giulia")
    assert await marco.act("assign", assignee="giulia")
    assert marco.thread["assignee"] == "giulia"


async def test_an_expired_session_refuses_to_act_and_keeps_the_draft(world: World) -> None:
    await world.customer_writes("hello", chat=1)
    conversation = model(world)
    await conversation.open(1)
    conversation.text = "half-written answer"
    world.clock.advance(hours=2)
    with pytest.raises(SessionExpired):
        await conversation.send()
    assert conversation.text == "half-written answer"
    async with world.db.read() as session:
        assert await session.scalar(select(Message.id).where(Message.direction == "outbound")) is None


async def test_marketing_replies_in_its_own_queue_and_cannot_open_support_threads(world: World) -> None:
    await world.customer_writes("collab?", chat=1)
    await world.customer_writes("my parcel is late", chat=2)
    async with world.db.write() as session:
        await session.execute(update(Conversation).where(Conversation.id == 1).values(queue="marketing"))
    sara = model(world, "sara")
    assert not await sara.open(2)  # a support thread: marketing does not see it
    assert await sara.open(1)
    sara.text = "Hi! Happy to talk"
    assert await sara.send()
    async with world.db.read() as session:
        reply = await session.scalar(select(Message).where(Message.direction == "outbound"))
    assert reply is not None and reply.text == "Hi! Happy to talk" and reply.conversation_id == 1


async def test_the_customer_panel_lists_handles_and_previous_conversations(world: World) -> None:
    await world.customer_writes("old problem", chat=1, name="Anna")
    giulia = model(world)
    await giulia.open(1)
    await giulia.act("resolve")
    async with world.db.write() as session:  # resolved long ago: the next message starts a new thread
        await session.execute(update(Conversation).values(resolved_at=world.clock.now() - timedelta(days=30)))
    await world.customer_writes("new problem", chat=1, name="Anna")
    await giulia.open(2)
    previous = giulia.thread["customer"]["previous"]
    assert [(p["id"], p["status"], p["preview"]) for p in previous] == [(1, "resolved", "old problem")]
    assert giulia.thread["customer"]["handles"][0]["handle"] == "giuliar"
    async with world.db.read() as session:
        kinds = (await session.scalars(select(Event.kind).where(Event.conversation_id == 1))).all()
    assert "resolved" in kinds


async def test_a_triage_correction_is_stored_and_reprioritises_the_thread(world: World) -> None:
    await world.customer_writes("I was charged twice for my order", chat=1, name="Anna")
    await world.triage_all()
    conversation = model(world)
    await conversation.open(1)
    target = conversation.thread["triage_target"]
    assert target is not None and target["angry"] is False
    before = conversation.thread["priority"]
    assert await conversation.act("correct", queue=target["queue"], angry=True, urgent=True,
                                  complaint=target["complaint"])
    assert conversation.thread["triage_target"]["angry"] is True
    assert conversation.thread["priority"] <= before
    event = [e for e in conversation.thread["events"] if e["kind"] == "triage_corrected"][-1]
    assert "angry → ✓" in event["text"]
    assert not await conversation.act("correct", queue=target["queue"], angry=True, urgent=True,
                                      complaint=target["complaint"])
    assert "nothing to correct" in conversation.error
