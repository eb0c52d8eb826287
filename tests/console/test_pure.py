"""Clocks, display helpers, canned replies, translations and presence: the console's pure parts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.canned import CannedReply, fill, load_canned, search
from console.clocks import response_clocks
from console.format import duration, flags, one_line, sla_state, sla_text
from console.i18n import CATALOGS, Translator, pick_language
from console.presence import Presence

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class M:
    direction: str
    minutes: float
    automated: bool = False
    delivery_status: str | None = None

    @property
    def sent_at(self) -> datetime:
        return T + timedelta(minutes=self.minutes)

    @property
    def received_at(self) -> datetime:
        return self.sent_at


def test_the_customer_waits_from_the_oldest_unanswered_message() -> None:
    clocks = response_clocks([M("inbound", 0), M("inbound", 5)])
    assert clocks.waiting_since == T and clocks.first_response_seconds is None


def test_a_human_reply_stops_the_clock_and_sets_the_first_response_time() -> None:
    clocks = response_clocks([M("inbound", 0), M("outbound", 7, delivery_status="sent"), M("inbound", 20)])
    assert clocks.first_response_seconds == 7 * 60
    assert clocks.waiting_since == T + timedelta(minutes=20)


def test_bot_messages_and_replies_not_yet_delivered_do_not_stop_the_clock() -> None:
    clocks = response_clocks([M("inbound", 0), M("outbound", 1, automated=True, delivery_status="sent"),
                              M("outbound", 2, delivery_status="failed"), M("note", 3),
                              M("outbound", 4, delivery_status="pending"), M("outbound", 5, delivery_status="unknown")])
    assert clocks.waiting_since == T and clocks.first_response_seconds is None
    automated_customer = response_clocks([M("inbound", 0, automated=True)])
    assert automated_customer.waiting_since is None


def test_durations_and_sla_states() -> None:
    en, it = Translator("en"), Translator("it")
    assert [duration(s, en) for s in (5, 125, 3 * 3600 + 300, 2 * 86400 + 3600)] == ["5s", "2m", "3h 05m", "2d 1h"]
    assert duration(2 * 86400, it) == "2g 0h"
    assert sla_state(None, T) == "none"
    assert sla_state(T + timedelta(hours=1), T) == "ok"
    assert sla_state(T + timedelta(minutes=10), T) == "near"
    assert sla_state(T - timedelta(seconds=1), T) == "breached"
    assert sla_text(T - timedelta(minutes=3), T, en) == "breached 3m"
    assert sla_text(T + timedelta(minutes=3), T, it) == "scade tra 3m"


def test_previews_are_one_line_and_flags_come_from_what_exists() -> None:
    assert one_line("a\n\n b\tc " + "x" * 300, limit=10) == "a b c xxx…"
    assert flags(public=True, triage={"angry": True, "urgent": False}, verified=None, followers=48_200) == [
        "public", "angry", "vip"]
    assert flags(public=False, triage=None, verified=None, followers=None) == []


def test_canned_replies_fill_known_variables_and_keep_the_rest() -> None:
    replies = load_canned()
    assert {r.name for r in search(replies, "refund")} == {"Refund on its way"}
    assert search(replies, "", language="it")[0].language == "it"
    text = fill("Hi {customer_name}, {agent_name} at {brand}; {order_id}", {
        "customer_name": "Anna", "agent_name": "Giulia", "brand": "ACME"})
    assert text == "Hi Anna, Giulia at ACME; {order_id}"
    assert fill("Hi {customer_name}", {"customer_name": ""}) == "Hi {customer_name}"  # unknown name stays visible
    assert search([CannedReply("Shipping delay", "x")], "ship del")[0].name == "Shipping delay"


def test_every_italian_string_exists_and_unknown_languages_fall_back() -> None:
    assert set(CATALOGS["it"]) == set(CATALOGS["en"])
    assert pick_language("it-IT") == "it" and pick_language("de", "it") == "it" and pick_language(None) == "en"
    assert Translator("it")("inbox.title") == "Posta in arrivo"
    assert Translator("en")("composer.counter", used=3, limit=280) == "3 / 280"
    assert Translator("en")("no.such.key") == "no.such.key"


def test_presence_tracks_sessions_and_reports_moves() -> None:
    moves: list[list[int]] = []
    presence = Presence(on_change=moves.append)
    presence.view("s1", "giulia", 4)
    presence.view("s2", "luca", 4)
    presence.view("s3", "luca", 4)
    assert presence.viewers(4) == ["giulia", "luca"]
    presence.view("s1", "giulia", 5)
    assert presence.viewers_of([4, 5]) == {4: ["luca"], 5: ["giulia"]}
    presence.leave("s2")
    presence.leave("s3")
    assert presence.viewers(4) == [] and moves[-1] == [4]


async def test_sessions_asking_at_once_share_one_query_until_the_store_changes() -> None:
    import asyncio

    from console.sharing import SharedResults

    shared = SharedResults(ttl=60)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    assert await asyncio.gather(*(shared.get("page1", load) for _ in range(20))) == [1] * 20
    assert await shared.get("page1", load) == 1 and calls == 1
    shared.on_bus("console.presence", {})
    assert await shared.get("page1", load) == 1  # presence does not touch the store
    shared.on_bus("conversation.changed", {"ids": [3]})
    assert await shared.get("page1", load) == 2 and calls == 2
