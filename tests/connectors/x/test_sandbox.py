"""The X sandbox, driven by the real tweepy 4.17 clients (async and sync), an Account Activity receiver and HTTP."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import tweepy
from aiohttp import web
from tweepy.asynchronous import AsyncClient

from connectors.x.sandbox import (
    DM_FORBIDDEN_DETAIL,
    DUPLICATE_DETAIL,
    REPLY_FORBIDDEN_DETAIL,
    SandboxError,
    XSandbox,
    local_session,
    mount_sync,
    run_sandbox,
    snowflake_now,
    tweet_weighted_length,
)

CUSTOMER = "42"
TWEET_FIELDS = ["author_id", "conversation_id", "created_at", "in_reply_to_user_id", "referenced_tweets"]
USER_FIELDS = ["name", "username", "public_metrics", "verified"]
DM_FIELDS = ["id", "text", "event_type", "sender_id", "dm_conversation_id", "created_at"]


@pytest.fixture
async def sandbox() -> AsyncIterator[XSandbox]:
    async with XSandbox() as running:
        running.add_user(CUSTOMER, "pat", "Pat Doe", followers=1234, verified=True)
        yield running


@asynccontextmanager
async def async_client(sandbox: XSandbox, **overrides: Any) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(**{**sandbox.credentials(), **overrides})
    client.session = local_session(sandbox.url)
    try:
        yield client
    finally:
        await client.session.close()


@pytest.fixture
async def client(sandbox: XSandbox) -> AsyncIterator[AsyncClient]:
    async with async_client(sandbox) as running:
        yield running


@pytest.fixture
def sync_client(sandbox: XSandbox) -> Iterator[tweepy.Client]:
    client = tweepy.Client(**sandbox.credentials())
    mount_sync(client, sandbox.url)
    yield client
    client.session.close()


@pytest.fixture
async def http(sandbox: XSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(sandbox.url) as session:
        yield session


def _sign(secret: str, message: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


@dataclass
class Receiver:
    """An Account Activity webhook implementing X's documented CRC and signature checks."""

    secret: str
    statuses: list[int] = field(default_factory=list)  # scripted answers to valid POSTs, then 200
    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    url: str = ""

    async def crc(self, request: web.Request) -> web.Response:
        token = request.query["crc_token"]
        return web.json_response({"response_token": _sign(self.secret, token.encode())})

    async def event(self, request: web.Request) -> web.Response:
        raw = await request.read()
        given = request.headers.get("x-twitter-webhooks-signature", "")
        if not hmac.compare_digest(given.encode(), _sign(self.secret, raw).encode()):
            self.rejected += 1
            return web.Response(status=403)
        self.received.append(json.loads(raw))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@asynccontextmanager
async def receiver(secret: str, statuses: list[int] | None = None) -> AsyncIterator[Receiver]:
    hook = Receiver(secret, list(statuses or []))
    app = web.Application()
    app.router.add_get("/x/webhook", hook.crc)
    app.router.add_post("/x/webhook", hook.event)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/x/webhook"
    try:
        yield hook
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------- mentions


async def test_mentions_with_expansions_parse_into_tweepy_objects(sandbox: XSandbox, client: AsyncClient) -> None:
    first = sandbox.customer_mentions(CUSTOMER, "my order never arrived")
    reply = await client.create_tweet(text="@pat Sorry! Checking now.", in_reply_to_tweet_id=first["id"])
    follow_up = sandbox.customer_mentions(CUSTOMER, "@acme still waiting", in_reply_to_tweet_id=reply.data["id"])

    response = await client.get_users_mentions(sandbox.brand_user_id, expansions=["author_id"],
                                               tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS)

    assert isinstance(response, tweepy.Response)
    assert [t.id for t in response.data] == [int(follow_up["id"]), int(first["id"])]  # newest first
    newest, oldest = response.data
    assert oldest.text == "@acme my order never arrived"  # the mention is put in front when missing
    assert oldest.conversation_id == oldest.id and oldest.in_reply_to_user_id is None
    assert newest.conversation_id == oldest.id  # the root of the reply chain
    assert newest.in_reply_to_user_id == int(sandbox.brand_user_id)
    assert newest.referenced_tweets[0].type == "replied_to" and newest.referenced_tweets[0].id == int(reply.data["id"])
    assert newest.author_id == 42 and newest.created_at.tzinfo is not None
    assert newest.created_at >= oldest.created_at
    [author] = response.includes["users"]
    assert (author.id, author.username, author.name, author.verified) == (42, "pat", "Pat Doe", True)
    assert author.public_metrics["followers_count"] == 1234
    assert response.meta == {"result_count": 2, "newest_id": follow_up["id"], "oldest_id": first["id"]}


async def test_mentions_page_with_next_token_then_since_id_returns_only_new(
        sandbox: XSandbox, client: AsyncClient) -> None:
    ids = [sandbox.customer_mentions(CUSTOMER, f"question {n}")["id"] for n in range(12)]

    pages: list[tweepy.Response] = []
    token = None
    while True:
        page = await client.get_users_mentions(sandbox.brand_user_id, max_results=5, pagination_token=token)
        pages.append(page)
        token = page.meta.get("next_token")
        if token is None:
            break

    assert [len(p.data) for p in pages] == [5, 5, 2]
    assert [str(t.id) for p in pages for t in p.data] == ids[::-1]
    assert pages[0].meta["newest_id"] == ids[-1]

    nothing_new = await client.get_users_mentions(sandbox.brand_user_id, since_id=pages[0].meta["newest_id"])
    assert nothing_new.data is None and nothing_new.meta == {"result_count": 0}

    fresh = sandbox.customer_mentions(CUSTOMER, "one more thing")
    later = await client.get_users_mentions(sandbox.brand_user_id, since_id=ids[-1])
    assert [str(t.id) for t in later.data] == [fresh["id"]]


async def test_mentions_reach_back_800_tweets_even_with_an_older_since_id(
        sandbox: XSandbox, client: AsyncClient) -> None:
    ids = [sandbox.customer_mentions(CUSTOMER, f"n{n}")["id"] for n in range(805)]
    seen: list[int] = []
    token = None
    while True:
        page = await client.get_users_mentions(sandbox.brand_user_id, since_id=ids[0], max_results=100,
                                               pagination_token=token)
        seen += [t.id for t in page.data]
        token = page.meta.get("next_token")
        if token is None:
            break
    assert len(seen) == 800
    assert seen[-1] == int(ids[5])  # the 5 oldest are out of reach


async def test_invalid_parameters_answer_x_invalid_request(sandbox: XSandbox, client: AsyncClient) -> None:
    with pytest.raises(tweepy.BadRequest) as too_few:
        await client.get_users_mentions(sandbox.brand_user_id, max_results=3)
    assert too_few.value.api_messages == ["The `max_results` query parameter value [3] is not between 5 and 100"]
    body = await too_few.value.response.json()
    assert body["title"] == "Invalid Request"
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert body["errors"][0]["parameters"] == {"max_results": ["3"]}

    with pytest.raises(tweepy.BadRequest, match="tweet.fields"):
        await client.get_users_mentions(sandbox.brand_user_id, tweet_fields=["colour"])
    with pytest.raises(tweepy.BadRequest, match="pagination_token"):
        await client.get_users_mentions(sandbox.brand_user_id, pagination_token="not-a-token")
    with pytest.raises(tweepy.BadRequest, match="max_results"):
        await client.get_direct_message_events(max_results=101)


# --------------------------------------------------------------------- authentication


async def test_missing_or_wrong_credentials_answer_401_and_bearer_cannot_read_dms(sandbox: XSandbox) -> None:
    async with async_client(sandbox, bearer_token="wrong") as wrong_bearer:
        with pytest.raises(tweepy.Unauthorized) as refused:
            await wrong_bearer.get_users_mentions(sandbox.brand_user_id)
    assert refused.value.api_messages == ["Unauthorized"]
    assert refused.value.response.headers["Content-Type"].startswith("application/json")

    async with async_client(sandbox, bearer_token=None) as no_bearer:
        with pytest.raises(tweepy.Unauthorized):
            await no_bearer.get_users_mentions(sandbox.brand_user_id)

    async with async_client(sandbox, consumer_secret="not-the-secret") as bad_signature:
        with pytest.raises(tweepy.Unauthorized):
            await bad_signature.create_tweet(text="hello")
    assert sandbox.sent_tweets() == []

    async with async_client(sandbox) as app_only:
        with pytest.raises(tweepy.Forbidden) as forbidden:
            await app_only.get_direct_message_events(user_auth=False)
    body = await forbidden.value.response.json()
    assert body["title"] == "Unsupported Authentication"
    assert len(sandbox.calls("mentions")) == 2  # refused requests are still logged


async def test_sync_client_is_rewritten_and_its_production_signature_verifies(
        sandbox: XSandbox, sync_client: tweepy.Client) -> None:
    me = await asyncio.to_thread(sync_client.get_me)
    assert (me.data.id, me.data.username) == (int(sandbox.brand_user_id), "acme")
    sandbox.customer_mentions(CUSTOMER, "hi from sync land")
    mentions = await asyncio.to_thread(sync_client.get_users_mentions, sandbox.brand_user_id)
    assert mentions.data[0].text == "@acme hi from sync land"
    created = await asyncio.to_thread(lambda: sync_client.create_tweet(text="posted via requests"))
    assert created.data["text"] == "posted via requests"
    assert all(call.host and call.host.startswith("127.0.0.1:") for call in sandbox.requests)

    sync_client.access_token_secret = "stolen-token-secret"
    with pytest.raises(tweepy.Unauthorized):
        await asyncio.to_thread(sync_client.get_me)


async def test_local_session_keeps_the_host_and_also_rewrites_api_x_com(sandbox: XSandbox) -> None:
    url = f"https://api.x.com/2/users/{sandbox.brand_user_id}/mentions"
    headers = {"Authorization": f"Bearer {sandbox.bearer_token}"}
    async with local_session(sandbox.url) as session, session.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert await resp.json() == {"meta": {"result_count": 0}}
    assert sandbox.requests[-1].host == "api.x.com"

    async with local_session(sandbox.url) as session, session.get("https://api.twitter.com/2/nope") as resp:
        assert resp.status == 404 and resp.content_type == "application/json"


# --------------------------------------------------------------------- direct messages


async def test_dm_events_come_newest_first_paginated_and_include_the_brands_own(
        sandbox: XSandbox, client: AsyncClient) -> None:
    first = sandbox.customer_dms(CUSTOMER, "hi, a private question")
    second = sandbox.customer_dms(CUSTOMER, "my address is …")
    sent = await client.create_direct_message(participant_id=CUSTOMER, text="Thanks, noted.")
    assert sent.data == {"dm_conversation_id": f"42-{sandbox.brand_user_id}", "dm_event_id": sent.data["dm_event_id"]}

    page = await client.get_direct_message_events(dm_event_fields=DM_FIELDS, event_types="MessageCreate",
                                                  expansions=["sender_id"], user_fields=USER_FIELDS, max_results=2)
    assert [e.id for e in page.data] == [int(sent.data["dm_event_id"]), int(second["id"])]
    echo = page.data[0]
    assert echo.sender_id == int(sandbox.brand_user_id) and echo.event_type == "MessageCreate"
    assert echo.dm_conversation_id == "42-1000" and echo.created_at is not None
    assert {u.id for u in page.includes["users"]} == {42, 1000}

    rest = await client.get_direct_message_events(dm_event_fields=DM_FIELDS, max_results=2,
                                                  pagination_token=page.meta["next_token"])
    assert [e.id for e in rest.data] == [int(first["id"])]
    assert rest.data[0].sender_id == 42 and "next_token" not in rest.meta

    with_pat = await client.get_direct_message_events(participant_id=CUSTOMER)
    assert len(with_pat.data) == 3
    assert (await client.get_direct_message_events(participant_id=999)).data is None


async def test_dm_events_cover_30_days(sandbox: XSandbox, client: AsyncClient) -> None:
    sandbox.customer_dms(CUSTOMER, "an old message")
    sandbox.advance_clock(31 * 86_400)
    recent = sandbox.customer_dms(CUSTOMER, "a recent one")
    events = await client.get_direct_message_events(dm_event_fields=DM_FIELDS)
    assert [str(e.id) for e in events.data] == [recent["id"]]


async def test_create_dm_is_refused_with_403_when_the_user_does_not_accept_dms(
        sandbox: XSandbox, client: AsyncClient) -> None:
    sandbox.add_user("77", "closed", "Closed DMs", accepts_dms=False)
    with pytest.raises(tweepy.Forbidden) as refused:
        await client.create_direct_message(participant_id=77, text="hello?")
    assert refused.value.api_messages == [DM_FORBIDDEN_DETAIL]
    with pytest.raises(tweepy.BadRequest):
        await client.create_direct_message(participant_id=CUSTOMER, text="x" * 10_001)
    by_conversation = await client.create_direct_message(dm_conversation_id="42-1000", text="via the conversation")
    assert [dm["id"] for dm in sandbox.sent_dms()] == [by_conversation.data["dm_event_id"]]


# --------------------------------------------------------------------- tweets


async def test_create_tweet_reply_joins_the_customers_conversation(sandbox: XSandbox, client: AsyncClient) -> None:
    mention = sandbox.customer_mentions(CUSTOMER, "where is my parcel?")
    reply = await client.create_tweet(text="@pat It ships today.", in_reply_to_tweet_id=mention["id"])
    assert set(reply.data) == {"id", "text", "edit_history_tweet_ids"}
    assert reply.data["edit_history_tweet_ids"] == [reply.data["id"]]
    assert int(reply.data["id"]) > int(mention["id"])

    [stored] = sandbox.sent_tweets()
    assert stored["conversation_id"] == mention["id"]
    assert stored["in_reply_to_user_id"] == CUSTOMER
    assert stored["referenced_tweets"] == [{"type": "replied_to", "id": mention["id"]}]
    timeline = await client.get_users_tweets(sandbox.brand_user_id, tweet_fields=TWEET_FIELDS)
    assert [str(t.id) for t in timeline.data] == [reply.data["id"]]  # a connector can reconcile a lost answer


async def test_create_tweet_refusals_match_x(sandbox: XSandbox, client: AsyncClient) -> None:
    with pytest.raises(tweepy.BadRequest) as too_long:
        await client.create_tweet(text="a" * 281)
    assert "Your Tweet text is too long" in too_long.value.api_messages[0]
    await client.create_tweet(text="日" * 140)  # CJK weighs 2: exactly 280
    with pytest.raises(tweepy.BadRequest):
        await client.create_tweet(text="日" * 141)
    await client.create_tweet(text="x" * 250 + " https://example.com/" + "p" * 200)  # a URL weighs 23

    with pytest.raises(tweepy.Forbidden) as unknown:
        await client.create_tweet(text="hello", in_reply_to_tweet_id=123)
    assert unknown.value.api_messages == [REPLY_FORBIDDEN_DETAIL]
    deleted = sandbox.customer_mentions(CUSTOMER, "never mind")
    sandbox.customer_deletes(deleted["id"])
    with pytest.raises(tweepy.Forbidden):
        await client.create_tweet(text="@pat too late", in_reply_to_tweet_id=deleted["id"])

    with pytest.raises(tweepy.Forbidden) as duplicate:
        await client.create_tweet(text="日" * 140)
    assert duplicate.value.api_messages == [DUPLICATE_DETAIL]
    assert len(sandbox.sent_tweets()) == 2


@pytest.mark.parametrize(("text", "weight"), [
    ("hello", 5),
    ("日本語", 6),
    ("caf\u0065\u0301", 4),  # NFC: é is one code point
    ("read https://example.com/a/very/long/path/that/goes/on.", 5 + 23 + 1),
    ("👍🏽 👨‍👩‍👧 🇫🇷", 2 + 1 + 2 + 1 + 2),
    ("\u2019quotes\u201d", 8),
])
def test_weighted_length_follows_twitter_text(text: str, weight: int) -> None:
    assert tweet_weighted_length(text) == weight


# --------------------------------------------------------------------- rate limits and faults


async def test_rate_limit_headers_count_down_then_429_until_the_window_resets(
        sandbox: XSandbox) -> None:
    sandbox.set_rate_limit("mentions", 2, window_seconds=1)
    async with async_client(sandbox, return_type=aiohttp.ClientResponse) as raw:
        first = await raw.get_users_mentions(sandbox.brand_user_id)
        second = await raw.get_users_mentions(sandbox.brand_user_id)
        assert [first.headers["x-rate-limit-limit"], first.headers["x-rate-limit-remaining"],
                second.headers["x-rate-limit-remaining"]] == ["2", "1", "0"]
        reset = int(first.headers["x-rate-limit-reset"])
        assert time.time() < reset <= time.time() + 2

        with pytest.raises(tweepy.TooManyRequests) as limited:
            await raw.get_users_mentions(sandbox.brand_user_id)
        assert limited.value.reset_time == reset
        assert await limited.value.response.json() == {"title": "Too Many Requests", "detail": "Too Many Requests",
                                                       "type": "about:blank", "status": 429}

        await asyncio.sleep(max(reset - time.time(), 0) + 0.05)
        again = await raw.get_users_mentions(sandbox.brand_user_id)
        assert again.headers["x-rate-limit-remaining"] == "1"
    assert sandbox.rate_limits()["mentions"]["app"]["remaining"] == 1
    assert sandbox.rate_limits()["mentions"]["user"]["remaining"] == 2  # per-user windows are separate


async def test_429_fault_blocks_the_endpoint_until_its_reset(sandbox: XSandbox, client: AsyncClient) -> None:
    sandbox.inject_fault("mentions", "429", reset_in=0.6)
    with pytest.raises(tweepy.TooManyRequests) as limited:
        await client.get_users_mentions(sandbox.brand_user_id)
    reset_time = limited.value.reset_time
    assert reset_time is not None and time.time() < reset_time <= time.time() + 2
    assert limited.value.response.headers["x-rate-limit-remaining"] == "0"
    with pytest.raises(tweepy.TooManyRequests):  # retrying early does not help, as on X
        await client.get_users_mentions(sandbox.brand_user_id)
    assert (await client.get_me()).data.username == "acme"  # other endpoints are unaffected

    await asyncio.sleep(max(reset_time - time.time(), 0) + 0.05)
    assert (await client.get_users_mentions(sandbox.brand_user_id)).meta == {"result_count": 0}
    mention_calls = sandbox.calls("mentions")
    assert len(mention_calls) == 3 and mention_calls[-1].at - mention_calls[0].at >= 0.5

    sandbox.inject_fault("mentions", "429_no_reset")
    with pytest.raises(tweepy.TooManyRequests) as no_reset:
        await client.get_users_mentions(sandbox.brand_user_id)
    assert no_reset.value.reset_time is None


async def test_5xx_slow_and_drop_faults(sandbox: XSandbox, client: AsyncClient) -> None:
    sandbox.inject_fault("mentions", "5xx", status=503)
    with pytest.raises(tweepy.TwitterServerError) as server_error:
        await client.get_users_mentions(sandbox.brand_user_id)
    assert server_error.value.response.status == 503
    assert "x-rate-limit-remaining" in server_error.value.response.headers

    sandbox.inject_fault("dm_events", "slow", delay=0.3)
    started = time.monotonic()
    await client.get_direct_message_events()
    assert time.monotonic() - started >= 0.3

    sandbox.inject_fault("create_dm", "drop")
    with pytest.raises(aiohttp.ClientError):
        await client.create_direct_message(participant_id=CUSTOMER, text="lost before X saw it")
    assert sandbox.sent_dms() == []

    mention = sandbox.customer_mentions(CUSTOMER, "hello?")
    sandbox.inject_fault("create_tweet", "drop_after")
    with pytest.raises(aiohttp.ClientError):
        await client.create_tweet(text="@pat posted, but the answer is lost", in_reply_to_tweet_id=mention["id"])
    assert [t["text"] for t in sandbox.sent_tweets()] == ["@pat posted, but the answer is lost"]

    sandbox.inject_fault("*", "5xx", status=500, count=None)
    for _ in range(2):
        with pytest.raises(tweepy.TwitterServerError):
            await client.get_me()
    sandbox.clear_faults()
    assert (await client.get_me()).data.username == "acme"


# --------------------------------------------------------------------- Account Activity


async def test_crc_check_follows_the_documented_algorithm(sandbox: XSandbox) -> None:
    async with receiver(sandbox.consumer_secret) as good, receiver("another-secret") as wrong:
        outcome = await sandbox.crc_check(good.url)
        assert outcome["valid"] is True and outcome["status"] == 200
        assert outcome["response_token"] == _sign(sandbox.consumer_secret, outcome["crc_token"].encode())
        refused = await sandbox.crc_check(wrong.url)
        assert refused["valid"] is False and refused["status"] == 200
    unreachable = await sandbox.crc_check(good.url)
    assert unreachable["valid"] is False and unreachable["status"] is None


async def test_deliveries_are_signed_over_the_raw_body(sandbox: XSandbox) -> None:
    payload = sandbox.activity_for_dm(sandbox.customer_dms(CUSTOMER, "ünïcode ✓ and \"quotes\""))
    async with receiver(sandbox.consumer_secret) as hook:
        assert await sandbox.deliver(hook.url, payload) == 200
        assert await sandbox.deliver(hook.url, payload, signature="bad") == 403
        assert await sandbox.deliver(hook.url, payload, signature=None) == 403
    assert hook.received == [payload] and hook.rejected == 2


async def test_activity_payloads_have_the_v11_shapes(sandbox: XSandbox) -> None:
    brand = sandbox.brand_user_id
    root = sandbox.customer_mentions(CUSTOMER, "first")
    long_text = "@acme " + "my parcel is late again " * 8
    reply = sandbox.customer_mentions(CUSTOMER, long_text, in_reply_to_tweet_id=root["id"], quote_of=root["id"])
    event = sandbox.activity_for_mention(reply)["tweet_create_events"][0]
    assert sandbox.activity_for_mention(reply)["for_user_id"] == brand
    assert event["id_str"] == reply["id"] and event["in_reply_to_status_id_str"] == root["id"]
    assert event["user"]["id_str"] == CUSTOMER and event["user"]["screen_name"] == "pat"
    assert event["user"]["followers_count"] == 1234 and event["user"]["verified"] is True
    assert event["truncated"] is True and len(event["text"]) <= 140
    assert event["extended_tweet"]["full_text"] == long_text
    assert event["is_quote_status"] is True and event["quoted_status"]["id_str"] == root["id"]
    assert event["extended_tweet"]["entities"]["user_mentions"][0]["id_str"] == brand
    assert sandbox.activity_for_mention(root)["tweet_create_events"][0]["truncated"] is False

    dm = sandbox.customer_dms(CUSTOMER, "private details")
    dm_payload = sandbox.activity_for_dm(dm)
    [dm_event] = dm_payload["direct_message_events"]
    assert dm_event["type"] == "message_create" and dm_event["id"] == dm["id"]
    assert dm_event["created_timestamp"].isdigit() and abs(int(dm_event["created_timestamp"]) / 1000 - time.time()) < 5
    assert dm_event["message_create"]["target"] == {"recipient_id": brand}
    assert dm_event["message_create"]["sender_id"] == CUSTOMER
    assert dm_event["message_create"]["message_data"]["text"] == "private details"
    assert set(dm_payload["users"]) == {CUSTOMER, brand}

    async with async_client(sandbox) as client:
        sent = await client.create_direct_message(participant_id=CUSTOMER, text="we're on it")
        tweet = await client.create_tweet(text="@pat fixed", in_reply_to_tweet_id=root["id"])
    dm_echo = sandbox.activity_for_brand_reply(sent.data)
    assert dm_echo["direct_message_events"][0]["message_create"]["sender_id"] == brand == dm_echo["for_user_id"]
    assert dm_echo["direct_message_events"][0]["message_create"]["target"] == {"recipient_id": CUSTOMER}
    tweet_echo = sandbox.activity_for_brand_reply(tweet.data)["tweet_create_events"][0]
    assert tweet_echo["user"]["id_str"] == brand and tweet_echo["in_reply_to_user_id_str"] == CUSTOMER

    retweet = sandbox.activity_for_retweet(sandbox.customer_retweets(CUSTOMER, tweet.data["id"]))
    assert retweet["tweet_create_events"][0]["retweeted_status"]["id_str"] == tweet.data["id"]
    assert retweet["tweet_create_events"][0]["text"] == "RT @acme: @pat fixed"
    favorite = sandbox.activity_for_like(sandbox.customer_likes(CUSTOMER, tweet.data["id"]))["favorite_events"][0]
    assert favorite["favorited_status"]["id_str"] == tweet.data["id"] and favorite["user"]["id_str"] == CUSTOMER
    with pytest.raises(SandboxError):
        sandbox.customer_likes(CUSTOMER, tweet.data["id"])


async def test_subscription_delivers_new_activity_including_echoes_and_retries(
        sandbox: XSandbox, client: AsyncClient) -> None:
    async with receiver(sandbox.consumer_secret, statuses=[500]) as hook:
        await sandbox.subscribe(hook.url, retry_delays=[0.05])
        mention = sandbox.customer_mentions(CUSTOMER, "anyone there?")
        sandbox.customer_dms(CUSTOMER, "hello in private")
        await client.create_tweet(text="@pat yes!", in_reply_to_tweet_id=mention["id"])
        await sandbox.wait_delivered()
    kinds = [next(k for k in p if k.endswith("_events")) for p in hook.received]
    assert kinds == ["tweet_create_events", "tweet_create_events", "direct_message_events", "tweet_create_events"]
    assert hook.received[0] == hook.received[1]  # the 500 was retried
    assert hook.received[-1]["tweet_create_events"][0]["user"]["id_str"] == sandbox.brand_user_id
    assert [d.status for d in sandbox.deliveries] == [500, 200, 200, 200]
    assert sandbox.state()["webhook"]["delivered"] == 3

    async with receiver("not-the-consumer-secret") as imposter:
        with pytest.raises(SandboxError, match="CRC"):
            await sandbox.subscribe(imposter.url)


# --------------------------------------------------------------------- control API


async def test_control_api_drives_customers_faults_and_reports_state(
        sandbox: XSandbox, http: aiohttp.ClientSession, client: AsyncClient) -> None:
    async with http.post("/sandbox/users", json={"user_id": "7", "username": "sam", "name": "Sam",
                                                 "followers": 5}) as resp:
        assert resp.status == 200 and (await resp.json())["public_metrics"]["followers_count"] == 5
    async with http.post("/sandbox/mentions", json={"user_id": "7", "text": "hi @acme"}) as resp:
        mention = await resp.json()
        assert mention["author_id"] == "7" and mention["text"] == "hi @acme"
    async with http.post("/sandbox/dms", json={"user_id": 7, "text": "psst"}) as resp:
        assert (await resp.json())["dm_conversation_id"] == "7-1000"
    for bad in ({"user_id": "7"}, {"user_id": "7", "text": "x", "colour": "red"}, {"user_id": "7", "text": 3}):
        async with http.post("/sandbox/mentions", json=bad) as resp:
            assert resp.status == 400 and "error" in await resp.json()
    async with http.post("/sandbox/mentions", json={"user_id": "7", "text": "x", "in_reply_to_tweet_id": "5"}) as resp:
        assert resp.status == 400 and "does not exist" in (await resp.json())["error"]

    async with http.post("/sandbox/faults", json={"endpoint": "create_tweet", "kind": "5xx", "count": 1}) as resp:
        assert (await resp.json())["faults"][0]["kind"] == "5xx"
    async with http.post("/sandbox/faults", json={"endpoint": "nope", "kind": "5xx"}) as resp:
        assert resp.status == 400
    with pytest.raises(tweepy.TwitterServerError):
        await client.create_tweet(text="@sam hello", in_reply_to_tweet_id=mention["id"])
    await client.create_tweet(text="@sam hello", in_reply_to_tweet_id=mention["id"])
    async with http.delete("/sandbox/faults") as resp:
        assert (await resp.json()) == {"faults": []}

    async with http.get("/sandbox/sent") as resp:
        sent = await resp.json()
    assert [t["text"] for t in sent["tweets"]] == ["@sam hello"] and sent["dms"] == []
    async with http.get("/sandbox/state") as resp:
        state = await resp.json()
    assert state["counts"]["mentions"] == 1 and state["counts"]["dms_received"] == 1
    assert state["counts"]["tweets_sent"] == 1
    assert state["requests_per_endpoint"]["create_tweet"] == 2
    assert state["rate_limits"]["create_tweet"]["user"]["limit"] == 100
    assert state["rate_limits"]["create_tweet"]["user"]["remaining"] == 99  # the injected 5xx used none


async def test_control_api_sets_rate_limits_moves_the_clock_and_subscribes_a_webhook(
        sandbox: XSandbox, http: aiohttp.ClientSession, client: AsyncClient) -> None:
    async with http.post("/sandbox/rate_limits", json={"endpoint": "mentions", "limit": 1, "scope": "app"}) as resp:
        assert (await resp.json())["rate_limits"]["mentions"]["app"]["limit"] == 1
    await client.get_users_mentions(sandbox.brand_user_id)
    with pytest.raises(tweepy.TooManyRequests):
        await client.get_users_mentions(sandbox.brand_user_id)

    async with http.post("/sandbox/clock", json={"seconds": 86_400}) as resp:
        assert (await resp.json())["offset_seconds"] == 86_400
    async with http.post("/sandbox/clock", json={"seconds": -1}) as resp:
        assert resp.status == 400

    async with receiver(sandbox.consumer_secret) as hook:
        async with http.post("/sandbox/webhook", json={"url": hook.url}) as resp:
            answer = await resp.json()
        assert answer["crc"]["valid"] is True and answer["webhook"]["url"] == hook.url
        async with http.post("/sandbox/mentions", json={"user_id": CUSTOMER, "text": "via control"}) as resp:
            mention = await resp.json()
        async with http.post("/sandbox/likes", json={"user_id": CUSTOMER, "tweet_id": mention["id"]}) as resp:
            assert resp.status == 200
        await sandbox.wait_delivered()
        async with http.delete("/sandbox/webhook") as resp:
            assert (await resp.json()) == {"webhook": None}
    assert hook.received[0]["tweet_create_events"][0]["id_str"] == mention["id"]
    assert hook.received[1]["favorite_events"][0]["favorited_status"]["id_str"] == mention["id"]


async def test_run_sandbox_starts_ids_at_the_current_snowflake() -> None:
    ready: asyncio.Future[XSandbox] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_sandbox(port=0, on_ready=ready.set_result))
    try:
        sandbox = await asyncio.wait_for(ready, 5)
        before = snowflake_now()
        mention = sandbox.customer_mentions(CUSTOMER, "after a restart")
        # ids keep growing across restarts, so a stored since_id never hides new mentions
        assert int(mention["id"]) >= before - (1000 << 22)
        async with async_client(sandbox) as client:
            found = await client.get_users_mentions(sandbox.brand_user_id, since_id=before - (60_000 << 22))
        assert [str(t.id) for t in found.data] == [mention["id"]]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
