"""The canned-replies page without a browser: widgets drive it, the library keeps it live, text stays text."""
from __future__ import annotations

from collections.abc import AsyncIterator

import panel as pn
import pytest
from bokeh.document import Document
from sqlalchemy import select

from console.canned import CannedLibrary
from console.views.canned_page import CannedRepliesPage
from social_care.store import canned as store
from social_care.store.models import Event
from tests.console.conftest import World
from tests.console.test_canned_library import until

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture
async def live(world: World) -> AsyncIterator[World]:
    """The world with a store-backed canned library, seeded from the shipped file."""
    library = CannedLibrary(world.db, world.bus)
    await library.start()
    world.context.canned = library
    yield world
    library.stop()


async def _page(world: World, who: str = "marco", language: str = "en") -> CannedRepliesPage:
    page = CannedRepliesPage(world.context, world.session_agent(who, language=language), session_id="s1")
    pn.panel(page.layout()).get_root(Document())
    await page.start()
    return page


def _type(page: CannedRepliesPage, *, name: str | None = None, text: str | None = None) -> None:
    """As the browser does: value_input follows every keystroke."""
    if name is not None:
        page.name.value_input = name
    if text is not None:
        page.text.value_input = text


async def test_lists_searches_opens_and_saves_with_a_preview(live: World) -> None:
    page = await _page(live)
    assert "Greeting  · EN" in page.picker.options and "8 of 8 replies" in page.count.object
    page.search.value_input = "rimborso"
    assert list(page.picker.options) == ["Rimborso in arrivo  · IT"]
    page.search.value_input = ""

    greeting = live.context.canned.find("Greeting")
    assert greeting is not None
    page.picker.value = [greeting.id]
    assert page.name.value == "Greeting" and page.language.value == "en" and page.delete.visible
    assert "Editing “Greeting”" in page.heading.object
    assert "Hi Anna Bianchi, this is Marco from ACME." in page.preview.object

    _type(page, text="Hello {customer_name}, {agent_name} here. {custmer_name}")
    assert "Hello Anna Bianchi, Marco here. {custmer_name}" in page.preview.object
    assert "{custmer_name}" in page.warning.object  # a typo in a variable is pointed out
    page.save.clicks += 1
    await until(lambda: "Saved “Greeting”." in page.info.object)
    saved = live.context.canned.find("Greeting")
    assert saved is not None and saved.version == 2 and saved.updated_by == "Marco"
    assert "changed" in page.meta.object and "Marco" in page.meta.object
    async with live.db.read() as session:
        event = await session.scalar(select(Event).where(Event.kind == "canned_updated"))
    assert event is not None and event.agent_id == live.agents["marco"].id and event.data["changed"] == ["text"]

    page.save.clicks += 1
    await until(lambda: "Nothing changed." in page.info.object)
    page.close()


async def test_creating_a_reply_with_hostile_content_shows_it_as_text(live: World) -> None:
    page = await _page(live)
    page.new.clicks += 1
    assert page.name.value == "" and not page.delete.visible and page.save.label == "Create reply"
    _type(page, name=HOSTILE, text=f"{HOSTILE} {{customer_name}}")
    page.language.value = "it"
    page.save.clicks += 1
    await until(lambda: "Created" in page.info.object)
    created = live.context.canned.find(HOSTILE)
    assert created is not None and created.language == "it" and created.text == f"{HOSTILE} {{customer_name}}"
    assert page.selected_id == created.id and page.picker.value == [created.id]
    for pane in (page.heading, page.preview, page.info):
        assert "<script>" not in pane.object and "<img" not in pane.object
        assert "&lt;script&gt;" in pane.object
    assert f"{HOSTILE}  · IT" in page.picker.options  # option labels are set as text by the browser
    page.close()


async def test_errors_are_clear_and_in_the_agents_language(live: World) -> None:
    page = await _page(live, language="it")
    page.new.clicks += 1
    _type(page, name="greeting", text="Ciao")
    page.save.clicks += 1
    await until(lambda: "Esiste già una risposta chiamata “Greeting”" in page.error.object)
    _type(page, name="Nuova", text="   ")
    page.save.clicks += 1
    await until(lambda: "Scrivi il testo della risposta." in page.error.object)
    _type(page, name="Nuova", text="x" * 4097)
    assert "sc-over" in page.counter.object
    page.save.clicks += 1
    await until(lambda: "Il testo è di 4097 caratteri; il limite è 4096." in page.error.object)
    assert live.context.canned.find("Nuova") is None
    page.close()


async def test_delete_asks_for_a_second_click(live: World) -> None:
    page = await _page(live)
    target = live.context.canned.find("Saluto")
    assert target is not None and target.id is not None
    page.open(target.id)
    page.delete.clicks += 1
    await until(lambda: page.delete.label == "Click again to delete")
    assert live.context.canned.find("Saluto") is not None
    page.delete.clicks += 1
    await until(lambda: "Deleted “Saluto”." in page.info.object)
    assert live.context.canned.find("Saluto") is None and page.selected_id is None
    assert "Saluto  · IT" not in page.picker.options
    page.close()


async def test_changes_made_elsewhere_show_up_and_a_stale_edit_is_refused(live: World) -> None:
    page = await _page(live)
    greeting = live.context.canned.find("Greeting")
    assert greeting is not None and greeting.id is not None
    page.open(greeting.id)
    _type(page, text="My edit")
    # Another manager changes the same reply through the API meanwhile.
    async with live.db.write() as session:
        await store.update_reply(session, live.agents["marco"], greeting.id, {"text": "Their edit"})
    live.bus.publish(store.TOPIC, ids=[greeting.id])
    await until(lambda: (r := live.context.canned.find("Greeting")) is not None and r.version == 2)
    assert page.text.value_input == "My edit"  # an edit in progress is not overwritten
    page.save.clicks += 1
    await until(lambda: "Someone else changed “Greeting”" in page.error.object)
    assert page.text.value == "Their edit" and page.version == 2

    # An untouched editor follows; a reply deleted elsewhere empties it with a note.
    async with live.db.write() as session:
        await store.update_reply(session, live.agents["marco"], greeting.id, {"text": "Third"})
    live.bus.publish(store.TOPIC, ids=[greeting.id])
    await until(lambda: page.text.value == "Third")
    async with live.db.write() as session:
        await store.delete_reply(session, live.agents["marco"], greeting.id)
    live.bus.publish(store.TOPIC, ids=[greeting.id])
    await until(lambda: "was deleted by someone else" in page.info.object)
    assert page.selected_id is None and "Greeting  · EN" not in page.picker.options

    async with live.db.write() as session:
        await store.create_reply(session, live.agents["marco"], "From the API", "text", None)
    live.bus.publish(store.TOPIC, ids=[])
    await until(lambda: "From the API  · *" in page.picker.options)
    page.close()


async def test_a_role_lost_since_sign_in_cannot_write_and_an_expired_session_ends(live: World) -> None:
    page = await _page(live, who="giulia")  # the wrapper refuses agents; the store refuses them too
    page.new.clicks += 1
    _type(page, name="Sneaky", text="text")
    page.save.clicks += 1
    await until(lambda: "Only managers and admins edit canned replies." in page.error.object)
    assert live.context.canned.find("Sneaky") is None

    live.clock.advance(hours=2)
    await page.tick()
    assert any("sc-canned-expired" in o.css_classes for o in page.body.objects)
    page.close()
