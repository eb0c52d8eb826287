"""The inbox page without a browser: widgets and browser messages drive the view-models; the bus updates it."""
from __future__ import annotations

from types import SimpleNamespace

import panel as pn
from bokeh.document import Document

from console.views.page import InboxPage
from tests.console.conftest import World, until


async def test_the_page_renders_filters_opens_and_updates_live(world: World) -> None:
    await world.customer_writes("my parcel", chat=1, name="Anna")
    page = InboxPage(world.context, world.session_agent("giulia"), session_id="s1")
    pn.panel(page.layout()).get_root(Document())
    await page.start()
    assert [row["customer"] for row in page.list.rows] == ["Anna"]
    assert not page.box.visible  # no conversation open yet

    page._on_list_msg(SimpleNamespace(data={"type": "open", "id": 1}))
    await until(lambda: page.thread.thread.get("id") == 1)
    assert page.box.visible and page.list.open_id == 1
    assert page.keys.conversation_id == 1

    # A customer writes: the bus tells the page, which refreshes within the debounce.
    world.bus.subscribe(page.on_bus)
    await world.customer_writes("second customer", chat=2, name="Bruno")
    world.bus.publish("message.received", ids=[2])
    await until(lambda: len(page.list.rows) == 2)

    page.search.value = "bruno"
    await until(lambda: [r["customer"] for r in page.list.rows] == ["Bruno"])

    # Keyboard: 'a' assigns the open conversation to me.
    page._on_key_msg(SimpleNamespace(data={"type": "key", "key": "a"}))
    await until(lambda: page.thread.thread.get("assignee") == "giulia")
    page.close()
    assert world.context.presence.viewers(1) == []


async def test_ctrl_enter_sends_what_the_browser_had_in_the_box(world: World) -> None:
    await world.customer_writes("hello", chat=1, name="Anna")
    page = InboxPage(world.context, world.session_agent("giulia"), session_id="s1")
    pn.panel(page.layout()).get_root(Document())
    await page.start(open_id=1)
    page._on_key_msg(SimpleNamespace(data={"type": "key", "key": "send", "text": "Ciao Anna"}))
    await until(lambda: any(m["direction"] == "outbound" for m in page.thread.thread.get("messages", [])))
    reply = next(m for m in page.thread.thread["messages"] if m["direction"] == "outbound")
    assert reply["text"] == "Ciao Anna" and reply["delivery"]["status"] == "pending"
    assert "Reply queued." in page.info.object
