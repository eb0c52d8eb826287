"""The Account Activity receiver: CRC, signatures over the raw body, parse, store in the real store, then 200."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from tweepy.asynchronous import AsyncClient

from connectors.x.connector import XConnector
from connectors.x.parse import MAX_DELIVERY_EVENTS, ParseContext
from connectors.x.sandbox import XSandbox, local_session
from connectors.x.webhook import (
    CRC_TOKEN_RULE,
    MAX_BODY,
    MAX_REPORTED_FAILURES,
    SIGNATURE_HEADER,
    crc_response_token,
    is_crc_token,
    sign_body,
    webhook_path,
    webhook_routes,
)
from social_care.domain import CursorUpdate, Inbound
from social_care.secrets import Secret
from social_care.store.models import Contact, Conversation, Identity, Message
from tests.connectors.x.helpers import (
    BRAND_ID,
    CHANNEL,
    CONSUMER_SECRET,
    CTX,
    PAT,
    Store,
    channel_section,
    fixture,
    open_store,
)

PATH = webhook_path(CHANNEL)
SECRET = Secret(CONSUMER_SECRET)

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
        yield sandbox


def make_app(ingest: Any, *, ctx: ParseContext = CTX, secret: Secret | None = SECRET) -> web.Application:
    app = web.Application(client_max_size=4 * MAX_BODY)
    app.router.add_routes(webhook_routes(ctx=ctx, consumer_secret=secret, ingest=ingest))
    return app


@pytest.fixture
async def client(aiohttp_client: ClientFactory, store: Store) -> TestClient:
    return await aiohttp_client(make_app(store.ingest))


def url(client: TestClient) -> str:
    return str(client.make_url(PATH))


async def post_raw(client: TestClient, body: bytes, *, signature: str | None = "sign",
                   content_type: str = "application/json; charset=utf-8") -> Any:
    headers = {"Content-Type": content_type}
    if signature == "sign":
        headers[SIGNATURE_HEADER] = sign_body(SECRET, body)
    elif signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return await client.post(PATH, data=body, headers=headers)


# --- CRC -------------------------------------------------------------------------------------


async def test_crc_check_passes_with_the_consumer_secret(client: TestClient, sandbox: XSandbox) -> None:
    outcome = await sandbox.crc_check(url(client))

    assert outcome["valid"], outcome
    assert outcome["response_token"] == crc_response_token(SECRET, outcome["crc_token"])


async def test_a_stale_consumer_secret_fails_crc_and_rejects_deliveries(
    aiohttp_client: ClientFactory, store: Store, sandbox: XSandbox
) -> None:
    # The app's consumer secret was regenerated on X, this channel still has the old one.
    client = await aiohttp_client(make_app(store.ingest, secret=Secret("the-old-secret")))

    outcome = await sandbox.crc_check(url(client))
    assert not outcome["valid"]
    assert outcome["error"] == "response_token does not match"

    tweet = sandbox.customer_mentions(PAT, "where is my order?")
    assert await sandbox.deliver(url(client), sandbox.activity_for_mention(tweet)) == 403
    await store.assert_empty()


async def test_crc_without_a_token_is_a_400(client: TestClient) -> None:
    resp = await client.get(PATH)

    assert resp.status == 400
    assert await resp.json() == {"error": "missing crc_token"}


async def test_without_a_consumer_secret_crc_and_deliveries_are_refused_clearly(
    aiohttp_client: ClientFactory, store: Store, sandbox: XSandbox
) -> None:
    client = await aiohttp_client(make_app(store.ingest, secret=None))

    crc = await client.get(PATH, params={"crc_token": "abc"})
    assert crc.status == 503
    assert "no consumer secret" in (await crc.json())["error"]
    tweet = sandbox.customer_mentions(PAT, "hello?")
    assert await sandbox.deliver(url(client), sandbox.activity_for_mention(tweet)) == 503
    await store.assert_empty()


async def test_a_crc_answer_cannot_sign_a_forged_delivery(client: TestClient, store: Store, sandbox: XSandbox) -> None:
    # The attack: ask the CRC endpoint to "answer" a URL-encoded JSON delivery (a DM from a verified
    # account), then POST that JSON with the answer as its signature.
    sandbox.add_user("7777", "acme_ceo", "ACME CEO", followers=2_000_000, verified=True)
    forged = json.dumps(sandbox.activity_for_dm(sandbox.customer_dms("7777", "wire the refund to IT60X054"))).encode()

    crc = await client.get(PATH, params={"crc_token": forged.decode()})

    assert crc.status == 400
    answer = await crc.json()
    assert answer == {"error": CRC_TOKEN_RULE}
    post = await post_raw(client, forged, signature=answer.get("response_token"))
    assert post.status == 403
    await store.assert_empty()


@pytest.mark.parametrize("token", [
    '{"for_user_id":"1000"}', ' {"a":1}', "a" * 129, "short", "abc def ghi", "abcdefgh\n", "abcdefgh%00",
    "ab\u00e9cdefgh", "abcdefgh{", "[1,2,3,4,5]",
])
async def test_crc_tokens_not_shaped_like_x_are_refused(client: TestClient, token: str) -> None:
    resp = await client.get(PATH, params={"crc_token": token})

    assert resp.status == 400
    assert await resp.json() == {"error": CRC_TOKEN_RULE}


@pytest.mark.parametrize("token", ["12345678", "MTIzNDU2Nzg=", "0123456789abcdefABCDEF+/_-=="])
async def test_what_a_crc_answer_signs_is_never_a_delivery(client: TestClient, store: Store, token: str) -> None:
    # An answered token is signed; POSTed as a body with that signature it is still no delivery.
    crc = await client.get(PATH, params={"crc_token": token})
    assert crc.status == 200
    signature = (await crc.json())["response_token"]

    resp = await post_raw(client, token.encode(), signature=signature)

    assert resp.status == 400
    await store.assert_empty()


async def test_x_shaped_crc_tokens_are_answered(client: TestClient, sandbox: XSandbox) -> None:
    # The sandbox sends tokens like X's: base64 of random bytes.
    for _ in range(20):
        outcome = await sandbox.crc_check(url(client))
        assert is_crc_token(outcome["crc_token"])
        assert outcome["valid"], outcome


async def test_the_sandbox_subscribes_through_crc_and_its_deliveries_are_stored(
    client: TestClient, store: Store, sandbox: XSandbox
) -> None:
    outcome = await sandbox.subscribe(url(client))
    assert outcome["valid"], outcome

    dm = sandbox.customer_dms(PAT, "is my order on its way?")
    await sandbox.wait_delivered()

    assert await store.source_ids() == [f"dm:{dm['id']}"]
    await sandbox.unsubscribe()


def test_crc_response_token_refuses_a_token_that_could_be_a_delivery() -> None:
    with pytest.raises(ValueError):
        crc_response_token(SECRET, '{"for_user_id":"1000"}')


# --- signatures and malformed deliveries -------------------------------------------------------


async def test_a_signed_mention_is_stored_before_the_200(client: TestClient, store: Store, sandbox: XSandbox) -> None:
    tweet = sandbox.customer_mentions(PAT, "my order #5521 never arrived")
    payload = sandbox.activity_for_mention(tweet)

    assert await sandbox.deliver(url(client), payload) == 200

    (message,) = await store.messages()
    assert message.platform_message_id == f"tweet:{tweet['id']}"
    assert message.text == "@acme my order #5521 never arrived"
    assert message.public is True
    assert message.raw["tweet_create_events"][0]["id_str"] == tweet["id"]
    (identity,) = await store.identities()
    assert (identity.platform_user_id, identity.handle, identity.followers) == (PAT, "pat_k", 312)
    (conversation,) = await store.conversations()
    assert conversation.thread_key == f"tweet:{tweet['id']}"


@pytest.mark.parametrize("signature", ["bad", None, "sha256=", "not even base64", "sha256=" + "A" * 44])
async def test_bad_or_missing_signatures_are_rejected_and_nothing_is_stored(
    client: TestClient, store: Store, sandbox: XSandbox, signature: str | None
) -> None:
    tweet = sandbox.customer_mentions(PAT, "hello?")

    resp_status = await sandbox.deliver(url(client), sandbox.activity_for_mention(tweet), signature=signature)

    assert resp_status == 403
    await store.assert_empty()


async def test_the_reason_for_a_rejected_signature_is_given(client: TestClient, store: Store) -> None:
    body = json.dumps(fixture("aaa_tweet_create")).encode()

    missing = await post_raw(client, body, signature=None)
    wrong = await post_raw(client, body, signature=sign_body(Secret("other"), body))

    assert (missing.status, await missing.json()) == (403, {"error": "missing signature"})
    assert (wrong.status, await wrong.json()) == (403, {"error": "wrong signature"})
    await store.assert_empty()


async def test_the_signature_covers_the_raw_bytes(client: TestClient, store: Store) -> None:
    body = json.dumps(fixture("aaa_tweet_create")).encode()
    # Same JSON, different bytes: a signature over the compact form does not cover the indented one.
    reformatted = json.dumps(json.loads(body), indent=2).encode()

    resp = await post_raw(client, reformatted, signature=sign_body(SECRET, body))

    assert resp.status == 403
    await store.assert_empty()


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2", b"{\"for_user_id\": \"1000\""])
async def test_malformed_json_is_a_400_and_nothing_is_stored(client: TestClient, store: Store, body: bytes) -> None:
    resp = await post_raw(client, body)

    assert resp.status == 400
    assert await resp.json() == {"error": "malformed JSON"}
    await store.assert_empty()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2], "delivery must be a JSON object"),
        ("12345678", "delivery must be a JSON object"),
        ({"tweet_create_events": []}, "missing field 'for_user_id'"),
        ({"for_user_id": "1000", "tweet_create_events": {"id": 1}}, "'tweet_create_events' must be an array"),
    ],
)
async def test_well_formed_json_of_the_wrong_shape_is_a_400(
    client: TestClient, store: Store, payload: Any, reason: str
) -> None:
    resp = await post_raw(client, json.dumps(payload).encode())

    assert resp.status == 400
    assert reason in (await resp.json())["error"]
    await store.assert_empty()


async def test_a_wrong_content_type_is_a_415(client: TestClient, store: Store) -> None:
    resp = await post_raw(client, json.dumps(fixture("aaa_tweet_create")).encode(), content_type="text/plain")

    assert resp.status == 415
    await store.assert_empty()


async def test_a_body_over_one_mebibyte_is_a_413(client: TestClient, store: Store) -> None:
    payload = fixture("aaa_tweet_create")
    payload["padding"] = "x" * MAX_BODY
    body = json.dumps(payload).encode()

    resp = await post_raw(client, body)

    assert resp.status == 413
    await store.assert_empty()


async def test_events_for_another_brand_account_are_ignored_with_a_reason(
    client: TestClient, store: Store
) -> None:
    payload = fixture("aaa_tweet_create")
    payload["for_user_id"] = "2000"

    resp = await post_raw(client, json.dumps(payload).encode())

    assert resp.status == 200
    assert await resp.json() == {"ok": True, "ignored": "events for account 2000, not this channel's account 1000"}
    await store.assert_empty()


async def test_a_malformed_event_does_not_lose_its_siblings(client: TestClient, store: Store) -> None:
    payload = fixture("aaa_dm")
    payload["direct_message_events"].append({"type": "message_create", "id": "1790000000000009005",
                                             "created_timestamp": "soon", "message_create": {}})

    resp = await post_raw(client, json.dumps(payload).encode())

    assert resp.status == 200
    answer = await resp.json()
    assert answer["records"] == 1
    assert answer["malformed_count"] == 1
    assert "dm event 1790000000000009005" in answer["malformed"][0]
    assert await store.source_ids() == ["dm:1790000000000009001"]


async def test_a_delivery_of_only_malformed_events_is_a_400(client: TestClient, store: Store) -> None:
    payload = {"for_user_id": BRAND_ID, "tweet_create_events": [{"id_str": "1", "user": {}}]}

    resp = await post_raw(client, json.dumps(payload).encode())

    assert resp.status == 400
    await store.assert_empty()


async def test_a_store_failure_is_a_500_so_x_may_retry(aiohttp_client: ClientFactory, store: Store) -> None:
    async def broken(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> None:
        raise RuntimeError("disk full")

    client = await aiohttp_client(make_app(broken))
    resp = await post_raw(client, json.dumps(fixture("aaa_tweet_create")).encode())

    assert resp.status == 500
    assert await resp.json() == {"error": "could not store the delivery"}


# --- bounded work and log lines per delivery -----------------------------------------------------


def _delivery_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "connectors.x.webhook"]


async def _timed_post(client: TestClient, body: bytes) -> tuple[float, Any]:
    started = time.perf_counter()
    resp = await post_raw(client, body)
    await resp.read()
    return time.perf_counter() - started, resp


async def test_a_delivery_of_200000_malformed_events_logs_a_few_lines_and_answers_fast(
    client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors.x")
    items = 200_000
    hostile = json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": [{}] * items}).encode()
    # The baseline has the same bytes to read, verify and decode, with nothing for the parser to do.
    baseline = json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": [], "padding": [{}] * items}).encode()
    assert len(hostile) < len(baseline) < MAX_BODY

    baseline_s = min([(await _timed_post(client, baseline))[0] for _ in range(3)])
    caplog.clear()
    hostile_s, resp = await _timed_post(client, hostile)

    assert resp.status == 400
    error = (await resp.json())["error"]
    assert f"and {MAX_DELIVERY_EVENTS - MAX_REPORTED_FAILURES} more malformed events" in error
    assert f"{items - MAX_DELIVERY_EVENTS} events beyond the first {MAX_DELIVERY_EVENTS} not read" in error
    assert len(error) < 2000
    lines = _delivery_lines(caplog)
    assert len(lines) == MAX_REPORTED_FAILURES + 2, [r.getMessage() for r in lines]
    assert sum(len(r.getMessage()) for r in lines) < 2000
    # Before: 200,000 ERROR lines and 11 s in the handler, against a baseline of about 0.05 s.
    assert hostile_s < 5 * baseline_s + 0.5, (hostile_s, baseline_s)
    await store.assert_empty()


def _dm_event(n: int, sender: str = PAT) -> dict[str, Any]:
    return {"type": "message_create", "id": str(1790000000000100000 + n), "created_timestamp": str(1790000000000 + n),
            "message_create": {"target": {"recipient_id": BRAND_ID}, "sender_id": sender,
                               "message_data": {"text": f"message {n}", "entities": {}}}}


async def test_events_beyond_the_cap_are_acknowledged_counted_and_not_read(
    client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors.x")
    events = [_dm_event(n) for n in range(MAX_DELIVERY_EVENTS + 7)]
    payload = {"for_user_id": BRAND_ID, "direct_message_events": events}

    resp = await post_raw(client, json.dumps(payload).encode())

    assert resp.status == 200
    assert await resp.json() == {"ok": True, "records": MAX_DELIVERY_EVENTS, "unread": 7}
    assert len(await store.source_ids()) == MAX_DELIVERY_EVENTS
    assert any("7 not read" in r.getMessage() for r in _delivery_lines(caplog))


async def test_a_mixed_delivery_reports_its_malformed_events_in_bounded_form(
    client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors.x")
    broken = [{"type": "message_create", "id": str(n), "created_timestamp": "soon", "message_create": {}}
              for n in range(1, 51)]
    payload = {"for_user_id": BRAND_ID, "direct_message_events": [_dm_event(0), *broken]}

    resp = await post_raw(client, json.dumps(payload).encode())

    assert resp.status == 200
    answer = await resp.json()
    assert (answer["records"], answer["malformed_count"], len(answer["malformed"])) == (1, 50, MAX_REPORTED_FAILURES)
    errors = [r for r in _delivery_lines(caplog) if r.levelno >= logging.ERROR]
    assert len(errors) == MAX_REPORTED_FAILURES + 1
    assert errors[-1].getMessage().endswith(f"{50 - MAX_REPORTED_FAILURES} more malformed events skipped "
                                            "in the same delivery")


async def test_reasons_quoting_platform_strings_stay_short(client: TestClient, store: Store) -> None:
    odd_type = {"type": "x" * 100_000, "id": "1790000000000000001"}
    payload: dict[str, Any] = {"for_user_id": BRAND_ID, "direct_message_events": [odd_type]}
    keys = {f"unknown_{n}_events": [] for n in range(20_000)}

    typed = await post_raw(client, json.dumps(payload).encode())
    keyed = await post_raw(client, json.dumps({"for_user_id": BRAND_ID, **keys}).encode())

    assert typed.status == keyed.status == 200
    assert len((await typed.json())["ignored"]) < 100
    assert (await keyed.json())["ignored"].endswith("and 19995 more)")
    await store.assert_empty()


# --- what is stored --------------------------------------------------------------------------


async def test_a_redelivered_event_is_stored_once(client: TestClient, store: Store, sandbox: XSandbox) -> None:
    tweet = sandbox.customer_mentions(PAT, "anyone there?")
    payload = sandbox.activity_for_mention(tweet)

    assert [await sandbox.deliver(url(client), payload) for _ in range(3)] == [200, 200, 200]

    assert await store.source_ids() == [f"tweet:{tweet['id']}"]


async def test_the_brand_echoes_are_dropped(client: TestClient, store: Store, sandbox: XSandbox) -> None:
    # The brand's own reply and DM come back through Account Activity too.
    tweet = sandbox.customer_mentions(PAT, "help")
    api = AsyncClient(**sandbox.credentials())
    api.session = local_session(sandbox.url)
    try:
        reply = await api.create_tweet(text="@pat_k sorry! please DM us", in_reply_to_tweet_id=tweet["id"])
        dm = await api.create_direct_message(participant_id=PAT, text="Hi Pat, your order number?")
    finally:
        await api.session.close()

    for item in (reply.data, dm.data):
        resp = await post_raw(client, json.dumps(sandbox.activity_for_brand_reply(item)).encode())
        assert resp.status == 200
        assert "the brand's own" in (await resp.json())["ignored"]
    await store.assert_empty()


async def test_extended_tweets_are_stored_in_full(client: TestClient, store: Store, sandbox: XSandbox) -> None:
    text = ("This is the third time I write about order #5521. The parcel was marked delivered but it never "
            "came, the courier blames your warehouse. I want a refund today.")
    tweet = sandbox.customer_mentions(PAT, text)
    payload = sandbox.activity_for_mention(tweet)
    assert payload["tweet_create_events"][0]["truncated"] is True

    assert await sandbox.deliver(url(client), payload) == 200

    (message,) = await store.messages()
    assert message.text == f"@acme {text}"


async def test_retweets_and_likes_are_ignored_by_default(client: TestClient, store: Store, sandbox: XSandbox) -> None:
    tweet = sandbox.customer_mentions(PAT, "love this")
    retweet = sandbox.customer_retweets("6262", tweet["id"])
    like = sandbox.customer_likes("6262", tweet["id"])

    for payload in (sandbox.activity_for_retweet(retweet), sandbox.activity_for_like(like)):
        body = json.dumps(payload).encode()
        resp = await post_raw(client, body)
        assert resp.status == 200
        assert "not enabled" in (await resp.json())["ignored"]
    await store.assert_empty()


async def test_retweets_and_likes_are_kept_when_configured(
    aiohttp_client: ClientFactory, store: Store, sandbox: XSandbox
) -> None:
    client = await aiohttp_client(make_app(store.ingest, ctx=replace(CTX, include_retweets=True, include_likes=True)))
    tweet = sandbox.customer_mentions(PAT, "love this")
    retweet = sandbox.customer_retweets("6262", tweet["id"])
    like = sandbox.customer_likes("6262", tweet["id"])

    assert await sandbox.deliver(url(client), sandbox.activity_for_retweet(retweet)) == 200
    assert await sandbox.deliver(url(client), sandbox.activity_for_like(like)) == 200

    assert await store.source_ids() == [f"tweet:{retweet['id']}", f"like:{tweet['id']}:6262"]
    conversations = await store.conversations()
    assert {c.thread_key for c in conversations} == {f"tweet:{tweet['id']}"}


async def test_quote_tweets_are_kept_as_public_mentions(client: TestClient, store: Store, sandbox: XSandbox) -> None:
    original = sandbox.customer_mentions(PAT, "first!")
    quote = sandbox.customer_mentions("5151", "look at this", quote_of=original["id"])

    assert await sandbox.deliver(url(client), sandbox.activity_for_mention(quote)) == 200

    (message,) = await store.messages()
    assert (message.platform_message_id, message.public, message.kind) == (f"tweet:{quote['id']}", True, "mention")
    assert message.attachments == [{"kind": "quote", "tweet_id": original["id"]}]


async def test_other_activity_is_acknowledged_and_ignored_with_a_reason(client: TestClient, store: Store) -> None:
    resp = await post_raw(client, json.dumps(fixture("aaa_follow")).encode())

    assert resp.status == 200
    assert await resp.json() == {"ok": True, "records": 0, "ignored": "no message events (follow_events)"}
    await store.assert_empty()


async def test_mentions_and_dms_of_one_customer_share_a_contact_in_two_conversations(
    client: TestClient, store: Store, sandbox: XSandbox
) -> None:
    tweet = sandbox.customer_mentions(PAT, "my order never arrived")
    dm = sandbox.customer_dms(PAT, "here is my order number: 5521")

    assert await sandbox.deliver(url(client), sandbox.activity_for_mention(tweet)) == 200
    assert await sandbox.deliver(url(client), sandbox.activity_for_dm(dm)) == 200

    assert await store.count(Identity) == 1
    assert await store.count(Contact) == 1
    public, private = await store.conversations()
    assert (public.thread_key, public.public) == (f"tweet:{tweet['id']}", True)
    assert (private.thread_key, private.public) == (f"dm:{PAT}", False)
    assert public.contact_id == private.contact_id
    assert await store.count(Message) == 2
    assert await store.count(Conversation) == 2


async def test_the_connector_exposes_the_routes_only_with_webhooks_on(store: Store) -> None:
    off = XConnector.from_config(CHANNEL, channel_section(), ingest=store.ingest, cursors=store.cursors)
    on = XConnector.from_config(CHANNEL, channel_section(webhooks=True), ingest=store.ingest, cursors=store.cursors)

    assert off.webhook_routes() == []
    assert sorted(r.method for r in on.webhook_routes()) == ["GET", "POST"]  # type: ignore[attr-defined]
    assert {r.path for r in on.webhook_routes()} == {PATH}  # type: ignore[attr-defined]
