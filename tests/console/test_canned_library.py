"""The console's live canned-reply library: seeded once from the TOML file, reloaded when the bus says so."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from console.canned import CannedLibrary, CannedReply, fill, load_canned, search, unknown_variables
from console.context import ConsoleContext
from social_care import actions
from social_care.store import canned as store
from tests.console.conftest import World, until


async def test_first_start_seeds_from_the_shipped_file_and_later_starts_do_not(world: World) -> None:
    library = CannedLibrary(world.db, world.bus)
    await library.start()
    shipped = load_canned()
    assert sorted(library.names()) == sorted(r.name for r in shipped)
    assert all(r.id is not None and r.version == 1 for r in library)
    greeting = library.find("Greeting")
    assert greeting is not None and greeting.language == "en" and "{customer_name}" in greeting.text
    for reply in list(library):
        assert reply.id is not None
        await library.delete(world.agents["marco"].id, reply.id)
    assert len(library) == 0
    library.stop()

    again = CannedLibrary(world.db, world.bus)
    await again.start()
    assert len(again) == 0  # deleting every reply does not bring the shipped ones back
    again.stop()


async def test_a_brand_file_named_in_the_environment_seeds_instead(world: World, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    brand = tmp_path / "brand.toml"
    brand.write_text('[[reply]]\nname = "Ciao"\nlanguage = "it"\ntext = "Ciao {customer_name}!"\n', encoding="utf-8")
    monkeypatch.setenv("SOCIAL_CARE_CANNED_REPLIES", str(brand))
    library = CannedLibrary(world.db, world.bus)
    await library.start()
    assert library.names() == ["Ciao"]
    library.stop()


async def test_a_change_published_on_the_bus_from_another_thread_reloads_and_tells_listeners(world: World) -> None:
    library = CannedLibrary(world.db, world.bus)
    await library.start(seed=False)
    calls: list[int] = []
    unsubscribe = library.on_change(lambda: calls.append(len(library)))
    async with world.db.write() as session:  # as the API would, in this or another process' code
        await store.create_reply(session, world.agents["marco"], "Apology", "Sorry {customer_name}", None)
    thread = threading.Thread(target=lambda: world.bus.publish(store.TOPIC, ids=[1]))
    thread.start()
    thread.join()
    await until(lambda: library.names() == ["Apology"])
    await until(lambda: calls == [1])
    unsubscribe()
    world.bus.publish(store.TOPIC, ids=[1])
    await asyncio.sleep(0.1)
    assert calls == [1]
    library.stop()


async def test_writes_check_the_role_and_record_the_agent(world: World) -> None:
    library = CannedLibrary(world.db, world.bus)
    await library.start(seed=False)
    created = await library.create(world.agents["marco"].id, "Thanks", "Thank you, {customer_name}!", "en")
    assert created.updated_by == "Marco" and created.version == 1
    assert ("canned.changed", {"ids": [created.id]}) in world.published
    assert created.id is not None
    updated = await library.update(world.agents["marco"].id, created.id, {"language": None}, version=1)
    assert updated.language is None and updated.version == 2
    with pytest.raises(actions.Forbidden):
        await library.create(world.agents["giulia"].id, "Mine", "text", None)
    with pytest.raises(store.StaleEdit):
        await library.update(world.agents["marco"].id, created.id, {"text": "x"}, version=1)
    library.stop()


def test_search_fill_and_a_plain_list_still_work() -> None:
    replies = [CannedReply("Greeting", "Hi {customer_name}", "en"), CannedReply("Saluto", "Ciao", "it")]
    context = ConsoleContext(db=None, bus=None, commands=None, presence=None, signer=None,  # type: ignore[arg-type]
                             brand="ACME", default_language="en", canned=replies)  # type: ignore[arg-type]
    assert isinstance(context.canned, CannedLibrary)
    assert [r.name for r in context.canned] == ["Greeting", "Saluto"]
    assert next(r for r in context.canned if r.name == "Saluto").language == "it"
    assert [r.name for r in search(context.canned, "", language="it")] == ["Saluto", "Greeting"]
    assert [r.name for r in search(context.canned, "gre")] == ["Greeting"]
    assert fill("Hi {customer_name} from {brand} {unknown}", {"customer_name": "Ann", "brand": "ACME"}) == \
        "Hi Ann from ACME {unknown}"
    assert unknown_variables("{brand} {custmer_name} {x} {x}") == ["custmer_name", "x"]
