"""Polling mentions and DMs with the real tweepy AsyncClient against the sandbox, into the real store."""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from tweepy.asynchronous import AsyncClient

from connectors.x.budget import Backoff, RateBudget
from connectors.x.poller import DM_CURSOR, MENTIONS_CURSOR, XPoller
from connectors.x.sandbox import XSandbox
from connectors.x.webhook import webhook_path, webhook_routes
from social_care.domain import CursorUpdate, Inbound
from social_care.secrets import Secret
from social_care.store.models import Contact, Identity
from tests.connectors.x.helpers import (
    CONSUMER_SECRET,
    CTX,
    PAT,
    FakeClock,
    Store,
    eventually,
    fast_budgets,
    open_store,
    sandbox_client,
)

NOOR = "5151"
ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    store = await open_store(tmp_path)
    yield store
    await store.db.dispose()


@pytest.fixture
async def sandbox() -> AsyncIterator[XSandbox]:
    async with XSandbox() as sandbox:
        sandbox.add_user(PAT, "pat_k", "Pat Kowalski", followers=312)
        sandbox.add_user(NOOR, "noor_b", "Noor", followers=48210, verified=True)
        # Generous windows so pacing does not slow the tests; tests about pacing set their own.
        for endpoint in ("mentions", "dm_events"):
            sandbox.set_rate_limit(endpoint, 100_000)
        yield sandbox


@pytest.fixture
async def client(sandbox: XSandbox) -> AsyncIterator[AsyncClient]:
    client = sandbox_client(sandbox.url)
    yield client
    await client.session.close()


def make_poller(client: AsyncClient, store: Store, ingest: Any = None, **kwargs: Any) -> XPoller:
    return XPoller(
        client,
        ctx=CTX,
        ingest=ingest or store.ingest,
        cursors=store.cursors,
        budgets=kwargs.pop("budgets", None) or fast_budgets(),
        page_size=kwargs.pop("page_size", 5),
        first_run_pages=kwargs.pop("first_run_pages", 1),
        **kwargs,
    )


def calls(sandbox: XSandbox, endpoint: str) -> list[Any]:
    return sandbox.calls(endpoint)


async def start_from_now(poller: XPoller, sandbox: XSandbox) -> None:
    """One cycle on an empty account, so the cursors exist and later tweets count as new."""
    sandbox.customer_mentions(NOOR, "first!")
    sandbox.customer_dms(NOOR, "first DM")
    await poller.poll_mentions()
    await poller.poll_dms()


# --- what polling stores ---------------------------------------------------------------------


async def test_mentions_and_dms_are_stored_with_authors_threads_and_cursors(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    poller = make_poller(client, store)
    root = sandbox.customer_mentions(PAT, "my order #5521 never arrived")
    reply = sandbox.customer_mentions(NOOR, "same here!", in_reply_to_tweet_id=root["id"])
    dm = sandbox.customer_dms(PAT, "order 5521, address in the order")

    mentions = await poller.poll_mentions()
    dms = await poller.poll_dms()

    assert (mentions.requests, mentions.records, mentions.cursor) == (1, 2, reply["id"])
    assert (dms.requests, dms.records, dms.cursor) == (1, 1, dm["id"])
    assert await store.source_ids() == [f"tweet:{root['id']}", f"tweet:{reply['id']}", f"dm:{dm['id']}"]
    assert await store.cursor(MENTIONS_CURSOR) == reply["id"]
    assert await store.cursor(DM_CURSOR) == dm["id"]
    first, second, private = await store.messages()
    assert second.in_reply_to == f"tweet:{root['id']}"
    assert first.conversation_id == second.conversation_id != private.conversation_id
    pat, noor = sorted(await store.identities(), key=lambda i: i.platform_user_id)
    assert (pat.handle, pat.followers, pat.verified) == ("pat_k", 312, False)
    assert (noor.handle, noor.followers, noor.verified) == ("noor_b", 48210, True)
    # The request asked for what the parser needs.
    (call,) = calls(sandbox, "mentions")
    assert set(call.params["expansions"].split(",")) == {"author_id", "referenced_tweets.id"}
    assert {"conversation_id", "created_at", "referenced_tweets", "in_reply_to_user_id"} <= set(
        call.params["tweet.fields"].split(","))
    assert {"name", "username", "public_metrics", "verified"} <= set(call.params["user.fields"].split(","))
    assert call.host == "api.twitter.com"  # rewritten at the transport, signed for production


async def test_mentions_and_dms_of_one_customer_are_one_contact_in_two_conversations(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    poller = make_poller(client, store)
    tweet = sandbox.customer_mentions(PAT, "my order never arrived")
    sandbox.customer_dms(PAT, "here is my order number")

    await poller.poll_mentions()
    await poller.poll_dms()

    assert await store.count(Identity) == 1 and await store.count(Contact) == 1
    public, private = await store.conversations()
    assert (public.thread_key, public.public) == (f"tweet:{tweet['id']}", True)
    assert (private.thread_key, private.public) == (f"dm:{PAT}", False)
    assert public.contact_id == private.contact_id


async def test_nothing_new_costs_one_request_per_endpoint_and_stores_nothing(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    poller = make_poller(client, store)
    await start_from_now(poller, sandbox)
    before = len(sandbox.requests)

    mentions, dms = await poller.poll_mentions(), await poller.poll_dms()

    assert (mentions.requests, mentions.records, mentions.cursor) == (1, 0, None)
    assert (dms.requests, dms.records, dms.cursor) == (1, 0, None)
    assert len(sandbox.requests) - before == 2
    assert calls(sandbox, "mentions")[-1].params["since_id"] == await store.cursor(MENTIONS_CURSOR)


async def test_the_brand_own_dms_are_dropped_but_move_the_cursor(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    poller = make_poller(client, store)
    await start_from_now(poller, sandbox)
    await client.create_direct_message(participant_id=PAT, text="Hi Pat!", user_auth=True)
    sent_id = sandbox.sent_dms()[-1]["id"]

    result = await poller.poll_dms()

    assert (result.records, result.ignored, result.cursor) == (0, 1, sent_id)
    assert await store.count(Identity) == 1  # only Noor, from start_from_now


async def test_a_first_start_reads_only_the_newest_page(sandbox: XSandbox, client: AsyncClient, store: Store) -> None:
    tweets = [sandbox.customer_mentions(PAT, f"old mention {i}") for i in range(8)]
    poller = make_poller(client, store)

    result = await poller.poll_mentions()

    assert (result.requests, result.records, result.cursor) == (1, 5, tweets[-1]["id"])
    assert await store.source_ids() == [f"tweet:{t['id']}" for t in tweets[3:]]


async def test_every_page_is_read_before_the_cursor_advances(sandbox: XSandbox, client: AsyncClient,
                                                             store: Store) -> None:
    poller = make_poller(client, store)
    await start_from_now(poller, sandbox)
    cursor_before = await store.cursor(MENTIONS_CURSOR)
    tweets = [sandbox.customer_mentions(PAT, f"mention {i}") for i in range(12)]
    commits: list[str | None] = []

    async def recording(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> Any:
        commits.append(cursor.value if cursor else None)
        return await store.ingest(records, cursor=cursor)

    poller.ingest = recording
    result = await poller.poll_mentions()

    assert (result.requests, result.records) == (3, 12)
    # Pages are stored as they arrive; the cursor, the newest id of the first page, only with the last.
    assert commits == [None, None, tweets[-1]["id"]]
    stored = [s for s in await store.source_ids() if s and s.startswith("tweet:")]
    assert sorted(stored[1:]) == sorted(f"tweet:{t['id']}" for t in tweets)
    mention_calls = calls(sandbox, "mentions")[-3:]
    assert all(c.params["since_id"] == cursor_before for c in mention_calls)
    assert [("pagination_token" in c.params) for c in mention_calls] == [False, True, True]


async def test_a_restart_in_the_middle_of_paging_skips_nothing_and_stores_nothing_twice(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    poller = make_poller(client, store)
    await start_from_now(poller, sandbox)
    cursor_before = await store.cursor(MENTIONS_CURSOR)
    tweets = [sandbox.customer_mentions(PAT, f"mention {i}") for i in range(12)]
    dms = [sandbox.customer_dms(PAT, f"dm {i}") for i in range(7)]
    pages = 0

    class Killed(Exception):
        pass

    async def dies_on_the_second_page(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> Any:
        nonlocal pages
        pages += 1
        if pages == 2:
            raise Killed  # the process dies before the second page is committed
        return await store.ingest(records, cursor=cursor)

    poller.ingest = dies_on_the_second_page
    with pytest.raises(Killed):
        await poller.poll_mentions()
    pages = 0
    with pytest.raises(Killed):
        await poller.poll_dms()
    assert await store.cursor(MENTIONS_CURSOR) == cursor_before
    assert len(await store.messages()) == 2 + 5 + 5  # start_from_now, then the first page of each

    restarted = make_poller(client, store)
    mentions, direct = await restarted.poll_mentions(), await restarted.poll_dms()

    assert (mentions.requests, mentions.cursor) == (3, tweets[-1]["id"])
    assert (direct.requests, direct.cursor) == (2, dms[-1]["id"])
    ids = await store.source_ids()
    assert len(ids) == len(set(ids)) == 2 + 12 + 7
    assert {f"tweet:{t['id']}" for t in tweets} | {f"dm:{d['id']}" for d in dms} <= set(ids)


async def test_dm_paging_stops_at_the_first_known_event(sandbox: XSandbox, client: AsyncClient, store: Store) -> None:
    poller = make_poller(client, store)
    await start_from_now(poller, sandbox)
    for i in range(12):
        sandbox.customer_dms(PAT, f"dm {i}")

    result = await poller.poll_dms()

    # 12 new events, 5 per page: the third page holds the known one, so there is no fourth request.
    assert (result.requests, result.records) == (3, 12)
    assert "pagination_token" not in calls(sandbox, "dm_events")[-3].params


# --- webhook and polling together --------------------------------------------------------------


@pytest.mark.parametrize("order", ["webhook first", "polling first"])
async def test_the_same_tweet_by_webhook_and_by_polling_is_one_message(
    aiohttp_client: ClientFactory, sandbox: XSandbox, client: AsyncClient, store: Store, order: str
) -> None:
    app = web.Application()
    app.router.add_routes(webhook_routes(ctx=CTX, consumer_secret=Secret(CONSUMER_SECRET), ingest=store.ingest))
    hook = await aiohttp_client(app)
    url = str(hook.make_url(webhook_path(CTX.channel_key)))
    poller = make_poller(client, store)
    tweet = sandbox.customer_mentions(PAT, "my parcel is lost " + "and nobody answers " * 8)  # > 140: extended
    dm = sandbox.customer_dms(PAT, "order 5521")

    async def by_webhook() -> None:
        assert await sandbox.deliver(url, sandbox.activity_for_mention(tweet)) == 200
        assert await sandbox.deliver(url, sandbox.activity_for_dm(dm)) == 200

    async def by_polling() -> None:
        await poller.poll_mentions()
        await poller.poll_dms()

    steps = [by_webhook, by_polling] if order == "webhook first" else [by_polling, by_webhook]
    for step in steps:
        await step()

    assert await store.source_ids() == [f"tweet:{tweet['id']}", f"dm:{dm['id']}"]
    message = await store.message(f"tweet:{tweet['id']}")
    assert message is not None and message.text == tweet["text"]
    assert len(await store.conversations()) == 2


# --- rate limits and failures ----------------------------------------------------------------


async def test_a_429_with_reset_60_seconds_ahead_stops_mention_requests_until_the_reset(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    poller = make_poller(client, store)
    await start_from_now(poller, sandbox)
    sandbox.inject_fault("mentions", "429", reset_in=60)
    before = len(calls(sandbox, "mentions"))
    poller.start()
    try:
        await eventually(lambda: _true(len(calls(sandbox, "mentions")) > before), what="the 429")
        limited_at = time.time()
        dm_calls = len(calls(sandbox, "dm_events"))
        await asyncio.sleep(1.0)
        # DMs keep their own budget and keep polling; mentions wait for the reset.
        assert len(calls(sandbox, "dm_events")) > dm_calls + 3
        assert len(calls(sandbox, "mentions")) == before + 1
        snap = poller.budgets["mentions"].snapshot()
        budget = poller.budgets["mentions"]
        assert budget.remaining == 0 and budget.reset_at is not None
        assert budget.reset_at >= limited_at + 59
        assert budget.blocked_until == pytest.approx(budget.reset_at + 1)
        assert snap["last_429_at"] is not None
        assert "mentions" not in poller.stopped
    finally:
        await poller.stop()


async def test_after_a_429_the_next_request_comes_only_after_the_reset(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    poller = make_poller(client, store)
    await start_from_now(poller, sandbox)
    sandbox.inject_fault("mentions", "429", reset_in=1.0)
    before = len(calls(sandbox, "mentions"))
    to_wall = time.time() - time.monotonic()
    poller.start()
    try:
        await eventually(lambda: _true(poller.budgets["mentions"].last_429_at is not None), what="the 429")
        reset = poller.budgets["mentions"].reset_at
        assert reset is not None
        budget = poller.budgets["mentions"]
        # The sandbox logs a request before the poller reads its answer: wait for the answer too.
        await eventually(
            lambda: _true(len(calls(sandbox, "mentions")) >= before + 2 and budget.failures == 0),
            timeout=5,
            what="a retry and its answer",
        )
    finally:
        await poller.stop()
    retry = calls(sandbox, "mentions")[before + 1]
    assert retry.at + to_wall >= reset  # x-rate-limit-reset, in unix seconds
    assert budget.remaining and budget.remaining > 0


async def test_a_429_without_reset_backs_off_and_never_loops_tightly(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    budgets = fast_budgets(backoff_initial=0.1, backoff_cap=0.4)
    poller = make_poller(client, store, budgets=budgets, poll_dms=False)
    sandbox.inject_fault("mentions", "429_no_reset", count=None)
    poller.start()
    await asyncio.sleep(1.5)
    # The sandbox logs a request before the poller reads the 429: stop between two requests.
    await eventually(lambda: _true(budgets["mentions"].failures == len(calls(sandbox, "mentions"))),
                     what="the last 429 read")
    await poller.stop()

    times = [c.at for c in calls(sandbox, "mentions")]
    # A tight loop would make hundreds of requests; capped backoff from 0.1 s allows about six.
    assert 3 <= len(times) <= 9
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.05
    assert budgets["mentions"].failures == len(times)


async def test_server_errors_back_off_and_polling_recovers(sandbox: XSandbox, client: AsyncClient,
                                                          store: Store) -> None:
    poller = make_poller(client, store, poll_dms=False)
    await start_from_now(poller, sandbox)
    tweet = sandbox.customer_mentions(PAT, "hello?")
    sandbox.inject_fault("mentions", "5xx", count=2, status=503)
    sandbox.inject_fault("mentions", "drop", count=1)
    poller.start()
    try:
        await eventually(lambda: _has(store, f"tweet:{tweet['id']}"), what="the mention after the faults")
    finally:
        await poller.stop()
    assert poller.budgets["mentions"].failures == 0


async def test_timeouts_back_off_and_polling_recovers(sandbox: XSandbox, store: Store) -> None:
    client = sandbox_client(sandbox.url, timeout=0.3)
    try:
        poller = make_poller(client, store, poll_dms=False)
        await start_from_now(poller, sandbox)
        tweet = sandbox.customer_mentions(PAT, "hello?")
        sandbox.inject_fault("mentions", "slow", delay=1.0)
        poller.start()
        await eventually(lambda: _has(store, f"tweet:{tweet['id']}"), what="the mention after a timeout")
        await poller.stop()
    finally:
        await client.session.close()


@pytest.mark.parametrize("endpoint", ["mentions", "dm_events"])
async def test_rejected_credentials_stop_that_loop_only(sandbox: XSandbox, store: Store, endpoint: str) -> None:
    wrong: dict[str, Any] = {"bearer_token": "revoked"} if endpoint == "mentions" else {"access_token": "1000-revoked"}
    client = sandbox_client(sandbox.url, **wrong)
    poller = make_poller(client, store)
    poller.start()
    try:
        await eventually(lambda: _true(endpoint in poller.stopped), what="the loop to stop")
        other = "dm_events" if endpoint == "mentions" else "mentions"
        count = len(calls(sandbox, other))
        await asyncio.sleep(0.3)
        assert len(calls(sandbox, other)) > count  # the other loop keeps polling
        assert len(calls(sandbox, endpoint)) == 1  # and the refused one asked once
        assert poller.status()[endpoint].startswith("stopped: X answered 401")
    finally:
        await poller.stop()
        await client.session.close()


async def test_a_store_failure_retries_the_same_tweets_later(sandbox: XSandbox, client: AsyncClient,
                                                             store: Store) -> None:
    failures = 0

    async def flaky(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> Any:
        nonlocal failures
        if records and failures < 2:
            failures += 1
            raise RuntimeError("database is locked")
        return await store.ingest(records, cursor=cursor)

    poller = make_poller(client, store, ingest=flaky, poll_dms=False, store_backoff=Backoff(initial=0.02, cap=0.05))
    tweet = sandbox.customer_mentions(PAT, "hello?")
    poller.start()
    try:
        await eventually(lambda: _has(store, f"tweet:{tweet['id']}"), what="the mention after store failures")
    finally:
        await poller.stop()
    assert failures == 2
    assert await store.cursor(MENTIONS_CURSOR) == tweet["id"]


async def test_the_poll_interval_spreads_a_small_window_and_never_hits_429(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    sandbox.set_rate_limit("mentions", 4, window_seconds=1.0)
    budgets = fast_budgets(min_interval=0.01)
    poller = make_poller(client, store, budgets=budgets, poll_dms=False)
    poller.start()
    await asyncio.sleep(2.5)
    await poller.stop()

    assert budgets["mentions"].last_429_at is None
    assert 3 <= len(calls(sandbox, "mentions")) <= 4 * 4  # at most the windows' worth (resets are whole seconds)


async def test_basic_tier_limits_give_one_mention_poll_every_100_seconds(
    sandbox: XSandbox, client: AsyncClient, store: Store
) -> None:
    # 10 requests per 15 minutes: with 9 left and 900 s to go, the loop sleeps 100 s between polls.
    sandbox.set_rate_limit("mentions", 10, window_seconds=900)
    clock = FakeClock(time.time, real_sleep=0.01)
    budgets = {"mentions": RateBudget("mentions", min_interval=60), "dm_events": RateBudget("dm_events")}
    poller = make_poller(client, store, budgets=budgets, poll_dms=False, clock=clock, sleep=clock.sleep)
    poller.start()
    await eventually(lambda: _true(len(clock.sleeps) >= 3), what="three polls")
    await poller.stop()

    first, second, third = clock.sleeps[:3]
    assert first == pytest.approx(900 / 9, abs=1.5)
    assert second == pytest.approx((900 - first) / 8, abs=1.5)
    assert third == pytest.approx((900 - first - second) / 7, abs=1.5)
    assert poller.budgets["mentions"].snapshot()["current_interval_s"] == pytest.approx(third, abs=0.01)


async def _true(value: bool) -> bool:
    return value


async def _has(store: Store, source_id: str) -> bool:
    return await store.message(source_id) is not None
