"""The marketing page without a browser: only its queue, who sent each thread and why, and the hand-back."""
from __future__ import annotations

from datetime import timedelta

import panel as pn
from bokeh.document import Document
from sqlalchemy import select, update

from console.i18n import Translator
from console.viewmodels.inbox import InboxModel
from console.views.page import InboxPage, MarketingPage
from social_care.store.models import Conversation, Event, Message
from tests.console.conftest import World, until


async def _two_marketing_threads(world: World) -> None:
    """Anna's thread forwarded by Giulia with a note; Bruno's routed to marketing by triage; Carla stays support."""
    await world.customer_writes("we'd like to partner with you", chat=1, name="Anna")
    await world.customer_writes("love the new collection!", chat=2, name="Bruno")
    await world.customer_writes("my parcel is late", chat=3, name="Carla")
    await world.context.commands.forward(world.agents["giulia"].id, 1, "marketing", "Wants a\npartnership deal")
    async with world.db.write() as session:
        await session.execute(update(Conversation).where(Conversation.id == 2).values(queue="marketing"))


async def _sara_sees(world: World) -> dict[str, dict]:
    """The rows of Sara's marketing page, by customer."""
    page = MarketingPage(world.context, world.session_agent("sara"), session_id="sara")
    pn.panel(page.layout()).get_root(Document())
    await page.start()
    try:
        return {row["customer"]: row for row in page.list.rows}
    finally:
        page.close()


async def test_marketing_sees_only_its_queue_with_who_sent_each_thread(world: World, en: Translator) -> None:
    await _two_marketing_threads(world)
    manager = world.session_agent("marco")
    page = MarketingPage(world.context, manager, session_id="m1")
    pn.panel(page.layout()).get_root(Document())
    await page.start()
    # A manager sees every queue in the inbox, but the marketing page shows marketing only.
    rows = {row["customer"]: row for row in page.list.rows}
    assert set(rows) == {"Anna", "Bruno"}
    assert rows["Anna"]["handoff"] == "from support, sent by giulia: Wants a partnership deal"
    assert rows["Bruno"]["handoff"] == "sent here by triage"
    page.status.value = "all"  # changing filters keeps the page on its queue
    await until(lambda: page.inbox.status == "all")
    assert {row["customer"] for row in page.list.rows} == {"Anna", "Bruno"}
    assert not page.queue.visible
    page.close()


async def test_a_thread_triage_sent_to_marketing_says_why(world: World, en: Translator) -> None:
    await world.customer_writes("do you sell the wool scarf in navy? would love one", chat=4, name="Dora")
    await world.triage_all()
    assert (await _sara_sees(world))["Dora"]["handoff"] == "sent here by triage: sales lead"


async def test_a_thread_an_agent_corrected_to_marketing_says_who(world: World, en: Translator) -> None:
    await world.customer_writes("my parcel is late and nobody answers", chat=5, name="Ezio")
    await world.triage_all()
    async with world.db.read() as session:
        message = await session.scalar(select(Message).where(Message.direction == "inbound"))
    assert message is not None and message.triage["queue"] == "support"
    await world.context.commands.correct_triage(world.agents["giulia"].id, message.id, {"queue": "marketing"})
    assert (await _sara_sees(world))["Ezio"]["handoff"] == "queue set by giulia"


async def test_handing_a_thread_back_moves_it_to_support_with_the_note(world: World, en: Translator) -> None:
    await _two_marketing_threads(world)
    sara = world.session_agent("sara")
    page = MarketingPage(world.context, sara, session_id="s1")
    pn.panel(page.layout()).get_root(Document())
    await page.start(open_id=1)
    await until(lambda: page.thread.thread.get("id") == 1)
    assert page.forward.visible and page.forward.label == "Hand back to support"
    page.forward_note.value = "Not a lead: they ask about a refund"
    await page._forward()
    # Marketing no longer sees it; the support inbox shows who handed it back and the note.
    assert page.conversation.conversation_id is None
    await page.inbox.refresh()
    assert [row["customer"] for row in page.inbox.rows] == ["Bruno"]
    giulia = InboxModel(world.context, world.session_agent("giulia"), en)
    await giulia.refresh()
    anna = next(row for row in giulia.rows if row["customer"] == "Anna")
    assert anna["handoff"] == "from marketing, sent by sara: Not a lead: they ask about a refund"
    carla = next(row for row in giulia.rows if row["customer"] == "Carla")
    assert carla["handoff"] == ""  # never moved: nothing to explain
    async with world.db.read() as session:
        moves = (await session.execute(select(Event.data).where(Event.conversation_id == 1, Event.kind == "forwarded")
                                       .order_by(Event.id))).scalars().all()
    assert [(m["from"], m["to"]) for m in moves] == [("support", "marketing"), ("marketing", "support")]
    page.close()


async def test_the_inbox_forward_button_still_sends_to_marketing(world: World) -> None:
    await world.customer_writes("can I buy in bulk?", chat=1, name="Anna")
    page = InboxPage(world.context, world.session_agent("giulia"), session_id="g1")
    pn.panel(page.layout()).get_root(Document())
    await page.start(open_id=1)
    await until(lambda: page.thread.thread.get("id") == 1)
    page.forward_note.value = "pre-sale"
    await page._forward()
    async with world.db.read() as session:
        assert (await session.get(Conversation, 1)).queue == "marketing"
    page.close()


async def test_a_thread_forwarded_to_marketing_leaves_the_support_clock(world: World) -> None:
    from console.commands import Commands
    from triage import TriageRules

    await world.customer_writes("my parcel is late and nobody answers", chat=1, name="Anna")
    await world.customer_writes("my card was charged twice", chat=2, name="Bruno")
    await world.triage_all()
    async with world.db.read() as session:
        support_due = {c.id: c.sla_due for c in (await session.scalars(select(Conversation))).all()}
    assert support_due[1] is not None and support_due[2] is not None
    giulia = world.agents["giulia"].id
    # No marketing target configured: marketing threads are off the clock.
    await world.context.commands.forward(giulia, 1, "marketing", None)
    # With a marketing target, the thread is due by that target from the customer's first waiting message.
    with_target = Commands(world.db, world.bus, TriageRules.from_dict({"sla": {"marketing": 600}}))
    await with_target.forward(giulia, 2, "marketing", None)
    async with world.db.read() as session:
        anna, bruno = await session.get(Conversation, 1), await session.get(Conversation, 2)
        first = await session.scalar(select(Message.sent_at).where(Message.conversation_id == 2))
    assert anna.queue == "marketing" and anna.sla_due is None
    assert bruno.sla_due == first + timedelta(minutes=600) and bruno.sla_due != support_due[2]


async def test_marketing_tags_a_thread_and_the_list_and_timeline_show_it(world: World) -> None:
    await _two_marketing_threads(world)
    page = MarketingPage(world.context, world.session_agent("sara"), session_id="s1")
    pn.panel(page.layout()).get_root(Document())
    await page.start(open_id=1)
    await until(lambda: page.thread.thread.get("id") == 1)
    assert page.tags.visible and page.tags.value == [] and "partnership" in page.tags.suggestions
    # What the browser sends: a clicked suggestion, then a typed tag; a typed non-slug is explained, not added.
    page.tags._handle_msg({"type": "add", "tag": "partnership"})
    page.tags._handle_msg({"type": "add", "tag": " Lead "})
    page.tags._handle_msg({"type": "add", "tag": "big shop!"})
    assert page.tags.value == ["partnership", "lead"] and "cannot be a tag" in page.tags.problem
    assert await page.conversation.act("tag", tags=list(page.tags.value))
    assert page.thread.thread["tags"] == ["partnership", "lead"]
    assert any(e["text"] == "tags: #partnership, #lead" for e in page.thread.thread["events"])
    await page.inbox.refresh()
    anna = next(row for row in page.inbox.rows if row["customer"] == "Anna")
    assert anna["tags"] == ["partnership", "lead"]
    # A tag that is not a slug is refused with a message, and nothing changes.
    assert not await page.conversation.act("tag", tags=["<script>"])
    assert "tag" in page.conversation.error and page.thread.thread["tags"] == ["partnership", "lead"]
    page.close()


async def test_the_marketing_page_announces_only_marketing_p1s(world: World) -> None:
    await world.customer_writes("refund now!!", chat=1, name="Anna")
    await world.customer_writes("big partnership, reply today", chat=2, name="Bruno")
    async with world.db.write() as session:
        await session.execute(update(Conversation).values(priority=1))
        await session.execute(update(Conversation).where(Conversation.id == 2).values(queue="marketing"))
    page = MarketingPage(world.context, world.session_agent("marco"), session_id="m1")
    assert [a["customer"] for a in await page.inbox.new_p1([1, 2])] == ["Bruno"]  # Anna's is a support P1
