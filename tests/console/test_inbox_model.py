"""The inbox view-model against a real SQLite store: what an agent would see in the list."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from console.i18n import Translator
from console.viewmodels.inbox import PAGE_SIZE, InboxModel
from social_care.store.models import Conversation
from tests.console.conftest import World


async def _set(world: World, conversation_id: int, **values: object) -> None:
    async with world.db.write() as session:
        await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(**values))


async def test_rows_are_ordered_by_priority_then_sla_and_show_the_last_customer_message(world: World, en: Translator) -> None:
    await world.customer_writes("first\nline two", chat=1, name="Anna")
    await world.customer_writes("ciao", chat=2, name="Bruno")
    await world.customer_writes("help!", chat=3, name="Carla")
    await world.customer_writes("still waiting", chat=1, name="Anna")
    now = world.clock.now()
    await _set(world, 1, priority=3, sla_due=now + timedelta(minutes=5))
    await _set(world, 2, priority=3, sla_due=now - timedelta(minutes=1))
    await _set(world, 3, priority=1, sla_due=None)
    inbox = InboxModel(world.context, world.session_agent("giulia"), en)
    await inbox.refresh()
    assert [row["customer"] for row in inbox.rows] == ["Carla", "Bruno", "Anna"]
    assert inbox.rows[2]["preview"] == "still waiting"
    assert inbox.rows[0]["priority"] == "P1"
    assert inbox.total == 3


async def test_filters_scope_channel_search_and_status(world: World, en: Translator) -> None:
    await world.customer_writes("my parcel is late", chat=1, name="Anna", handle="anna_b")
    await world.customer_writes("invoice question", chat=2, name="Bruno")
    await world.customer_writes("@acme where is my refund", chat=9, name="Xavier", platform="x", public=True)
    giulia = world.session_agent("giulia")
    await world.context.commands.claim(giulia.id, 2)
    inbox = InboxModel(world.context, giulia, en)
    await inbox.set_filters(scope="mine")
    assert [r["customer"] for r in inbox.rows] == ["Bruno"] and inbox.rows[0]["mine"]
    await inbox.set_filters(scope="unassigned")
    assert {r["customer"] for r in inbox.rows} == {"Anna", "Xavier"}
    await inbox.set_filters(scope="all", platform="x")
    assert [r["channel"] for r in inbox.rows] == ["X"] and "public" in [f["key"] for f in inbox.rows[0]["flags"]]
    await inbox.set_filters(platform="", search="PARCEL")
    assert [r["customer"] for r in inbox.rows] == ["Anna"]
    await inbox.set_filters(search="anna_")
    assert [r["customer"] for r in inbox.rows] == ["Anna"]
    await inbox.set_filters(search="100%")  # wildcards are literal
    assert inbox.rows == []
    await world.context.commands.set_status(giulia.id, 1, "resolved")
    await inbox.set_filters(search="", status="resolved")
    assert [r["customer"] for r in inbox.rows] == ["Anna"]


async def test_pages_come_from_sql(world: World, en: Translator) -> None:
    for chat in range(PAGE_SIZE + 5):
        await world.customer_writes("hello", chat=1000 + chat, name=f"C{chat}")
    inbox = InboxModel(world.context, world.session_agent("giulia"), en)
    await inbox.refresh()
    assert len(inbox.rows) == PAGE_SIZE and inbox.total == PAGE_SIZE + 5 and inbox.pages == 2
    await inbox.go_to_page(2)
    assert len(inbox.rows) == 5


async def test_snoozed_conversations_leave_the_open_list_until_their_time(world: World, en: Translator) -> None:
    await world.customer_writes("hello", chat=1, name="Anna")
    giulia = world.session_agent("giulia")
    await world.context.commands.snooze(giulia.id, 1, world.clock.now() + timedelta(hours=2), now=world.clock.now())
    inbox = InboxModel(world.context, giulia, en)
    await inbox.refresh()
    assert inbox.rows == []
    await inbox.set_filters(status="snoozed")
    assert [r["customer"] for r in inbox.rows] == ["Anna"]
    world.clock.advance(hours=3)
    await inbox.set_filters(status="open")
    assert [r["customer"] for r in inbox.rows] == ["Anna"]
    assert any(kind == "conversation.changed" for kind, _ in world.published)


async def test_keyboard_cursor_and_viewers(world: World, en: Translator) -> None:
    await world.customer_writes("a", chat=1, name="Anna")
    await world.customer_writes("b", chat=2, name="Bruno")
    inbox = InboxModel(world.context, world.session_agent("giulia"), en)
    await inbox.refresh()
    inbox.move(1)
    inbox.move(1)
    assert inbox.cursor == 1
    inbox.move(-5)
    assert inbox.cursor_id == inbox.rows[0]["id"] and inbox.target() == inbox.rows[0]["id"]
    world.context.presence.view("s-luca", "luca", inbox.rows[1]["id"])
    world.context.presence.view("s-giulia", "giulia", inbox.rows[1]["id"])
    inbox.render()
    assert inbox.rows[1]["viewers"] == ["luca"]  # not herself


async def test_the_cursor_stays_on_its_conversation_when_one_arrives_above(world: World, en: Translator) -> None:
    await world.customer_writes("a", chat=1, name="Anna")
    await world.customer_writes("b", chat=2, name="Bruno")
    inbox = InboxModel(world.context, world.session_agent("giulia"), en)
    await inbox.refresh()
    inbox.move(1)
    picked = inbox.rows[1]["customer"]
    await world.customer_writes("my card was charged twice, chargeback now!!", chat=3, name="Carla")
    await world.triage_all()  # Carla is urgent: she goes to the top
    await inbox.refresh()
    assert inbox.rows[0]["customer"] == "Carla"
    assert inbox.rows[inbox.cursor]["customer"] == picked  # the highlight moved down with the conversation
    assert inbox.target() == inbox.cursor_id == inbox.rows[inbox.cursor]["id"]
    assert inbox.target(inbox.rows[0]["id"]) == inbox.rows[0]["id"]  # what the browser showed highlighted wins
    assert inbox.target(999_999) == inbox.cursor_id  # but never a row that is not on the page


async def test_p1_arrivals_are_announced_once(world: World, en: Translator) -> None:
    await world.customer_writes("urgent!!", chat=1, name="Anna")
    inbox = InboxModel(world.context, world.session_agent("giulia"), en)
    await inbox.refresh()
    assert await inbox.new_p1([1]) == []  # P3 by default
    await _set(world, 1, priority=1)
    assert [a["customer"] for a in await inbox.new_p1([1])] == ["Anna"]
    assert await inbox.new_p1([1]) == []


async def test_the_interface_speaks_italian(world: World) -> None:
    await world.customer_writes("Pessimo servizio", chat=1, name="Marco")
    await _set(world, 1, sentiment=-0.8)
    inbox = InboxModel(world.context, world.session_agent("giulia", language="it"), Translator("it"))
    await inbox.refresh()
    assert inbox.rows[0]["sentiment_text"] == "negativo"
    assert inbox.rows[0]["queue"] == "assistenza"


async def test_a_message_without_text_shows_what_it_carries(world: World, en: Translator) -> None:
    from social_care.domain import Attachment, Author, InboundMessage

    await world.ingest([InboundMessage(
        platform="telegram", channel_key="acme", source_id="77:1", thread_key="chat:77",
        author=Author(platform_id="77", name="Elena"), text="", sent_at=world.clock.now(),
        attachments=(Attachment(kind="location"),))])
    inbox = InboxModel(world.context, world.session_agent("giulia"), en)
    await inbox.refresh()
    assert inbox.rows[0]["preview"] == "📎 location"
