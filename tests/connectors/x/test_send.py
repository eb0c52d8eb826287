"""Public replies and DMs through the real tweepy AsyncClient against the sandbox, with faults; the connector."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import unused_port
from tweepy.asynchronous import AsyncClient

from connectors.x.budget import RateBudget
from connectors.x.connector import XConfigError, XConnector
from connectors.x.sandbox import XSandbox
from connectors.x.send import send_reply
from social_care.domain import OutboundReply
from social_care.errors import AuthError, PlatformError, RateLimited, TransientError
from tests.connectors.x.helpers import (
    BEARER,
    CHANNEL,
    CONSUMER_SECRET,
    PAT,
    Store,
    channel_section,
    eventually,
    fast_budgets,
    open_store,
    sandbox_client,
)

SHY = "7373"  # a customer who does not accept DMs


@pytest.fixture
async def sandbox() -> AsyncIterator[XSandbox]:
    async with XSandbox() as sandbox:
        sandbox.add_user(PAT, "pat_k", "Pat Kowalski", followers=312)
        sandbox.add_user(SHY, "shy_one", "Shy", accepts_dms=False)
        yield sandbox


@pytest.fixture
async def client(sandbox: XSandbox) -> AsyncIterator[AsyncClient]:
    client = sandbox_client(sandbox.url, timeout=0.5)
    yield client
    await client.session.close()


@pytest.fixture
def budgets() -> dict[str, RateBudget]:
    return fast_budgets()


def public(text: str, tweet_id: str | None, *, thread: str | None = None, recipient: str = PAT) -> OutboundReply:
    return OutboundReply(outbox_id="ob-1", channel_key=CHANNEL, recipient_id=recipient, text=text,
                         reply_to_source_id=f"tweet:{tweet_id}" if tweet_id else None, mode="public",
                         thread_key=thread)


def private(text: str, recipient: str = PAT) -> OutboundReply:
    return OutboundReply(outbox_id="ob-2", channel_key=CHANNEL, recipient_id=recipient, text=text,
                         reply_to_source_id="dm:1860000000000000001", mode="private", thread_key=f"dm:{recipient}")


def creates(sandbox: XSandbox) -> int:
    return len(sandbox.calls("create_tweet")) + len(sandbox.calls("create_dm"))


# --- replies that reach X --------------------------------------------------------------------


async def test_a_public_reply_answers_the_tweet_and_returns_its_id(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget]
) -> None:
    tweet = sandbox.customer_mentions(PAT, "my order never arrived")

    sent = await send_reply(client, public("@pat_k so sorry! We are on it.", tweet["id"]), budgets=budgets)

    (created,) = sandbox.sent_tweets()
    assert sent == f"tweet:{created['id']}"
    assert created["referenced_tweets"] == [{"type": "replied_to", "id": tweet["id"]}]
    assert created["conversation_id"] == tweet["id"]
    limit = budgets["create_tweet"].limit
    assert limit is not None and budgets["create_tweet"].remaining == limit - 1  # the headers fed the budget


async def test_a_public_reply_without_a_replied_message_answers_the_conversation_root(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget]
) -> None:
    tweet = sandbox.customer_mentions(PAT, "hello?")

    await send_reply(client, public("Hi Pat!", None, thread=f"tweet:{tweet['id']}"), budgets=budgets)

    assert sandbox.sent_tweets()[0]["referenced_tweets"] == [{"type": "replied_to", "id": tweet["id"]}]


async def test_a_dm_returns_the_dm_event_id(sandbox: XSandbox, client: AsyncClient,
                                            budgets: dict[str, RateBudget]) -> None:
    sent = await send_reply(client, private("Hi Pat, could you send us your order number?"), budgets=budgets)

    (dm,) = sandbox.sent_dms()
    assert sent == f"dm:{dm['id']}"
    assert (dm["dm_conversation_id"], dm["text"]) == (f"1000-{PAT}", "Hi Pat, could you send us your order number?")


async def test_exactly_280_weighted_characters_are_sent(sandbox: XSandbox, client: AsyncClient,
                                                         budgets: dict[str, RateBudget]) -> None:
    tweet = sandbox.customer_mentions(PAT, "hello?")

    await send_reply(client, public("あ" * 139 + "ok", tweet["id"]), budgets=budgets)

    assert len(sandbox.sent_tweets()) == 1


# --- refused before or by X ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "length"), [("a" * 281, 281), ("あ" * 141, 282), ("👍" * 141, 282)])
async def test_a_public_reply_over_280_characters_is_refused_without_calling_x(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget], text: str, length: int
) -> None:
    tweet = sandbox.customer_mentions(PAT, "hello?")

    with pytest.raises(PlatformError) as caught:
        await send_reply(client, public(text, tweet["id"]), budgets=budgets)

    assert caught.value.status == 400
    assert caught.value.code == "too_long"
    assert f"{length} of 280 characters as X counts them" in str(caught.value)
    assert creates(sandbox) == 0


async def test_a_dm_to_a_user_who_does_not_accept_them_is_a_403(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget]
) -> None:
    with pytest.raises(PlatformError) as caught:
        await send_reply(client, private("Hi!", recipient=SHY), budgets=budgets)

    assert caught.value.status == 403
    assert "not allowed to send a message to this user" in str(caught.value)
    assert sandbox.sent_dms() == []


async def test_a_reply_to_a_deleted_tweet_and_a_duplicate_are_403s(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget]
) -> None:
    gone = sandbox.customer_mentions(PAT, "oops")
    sandbox.customer_deletes(gone["id"])
    tweet = sandbox.customer_mentions(PAT, "hello?")
    await send_reply(client, public("Thanks for writing!", tweet["id"]), budgets=budgets)

    for reply in (public("Sorry!", gone["id"]), public("Thanks for writing!", tweet["id"])):
        with pytest.raises(PlatformError) as caught:
            await send_reply(client, reply, budgets=budgets)
        assert caught.value.status == 403


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (public("Hi", None, thread="dm:4242"), "no_tweet"),
        (public("   ", "1860000000000000001"), "empty"),
        (private("Hi", recipient="pat_k"), "bad_recipient"),
        (private("x" * 10_001), "too_long"),
    ],
)
async def test_replies_x_would_refuse_are_refused_without_calling_x(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget], reply: OutboundReply, code: str
) -> None:
    with pytest.raises(PlatformError) as caught:
        await send_reply(client, reply, budgets=budgets)

    assert (caught.value.status, caught.value.code) == (400, code)
    assert creates(sandbox) == 0


async def test_rejected_credentials_are_an_auth_error(sandbox: XSandbox, budgets: dict[str, RateBudget]) -> None:
    client = sandbox_client(sandbox.url, access_token_secret="wrong")
    try:
        with pytest.raises(AuthError):
            await send_reply(client, private("Hi"), budgets=budgets)
    finally:
        await client.session.close()


# --- rate limits and faults ------------------------------------------------------------------


async def test_a_429_gives_retry_after_from_the_reset_and_spares_x_until_then(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget]
) -> None:
    tweet = sandbox.customer_mentions(PAT, "hello?")
    sandbox.inject_fault("create_tweet", "429", reset_in=60)

    with pytest.raises(RateLimited) as caught:
        await send_reply(client, public("Hi!", tweet["id"]), budgets=budgets)
    assert caught.value.retry_after is not None and 59 <= caught.value.retry_after <= 62

    # The outbox may try again early: the budget answers for X without a request.
    calls = creates(sandbox)
    with pytest.raises(RateLimited) as again:
        await send_reply(client, public("Hi!", tweet["id"]), budgets=budgets)
    assert creates(sandbox) == calls
    assert again.value.retry_after is not None and again.value.retry_after > 55
    # DMs have their own budget.
    await send_reply(client, private("Hi!"), budgets=budgets)


async def test_a_429_without_reset_has_no_retry_after(sandbox: XSandbox, client: AsyncClient,
                                                      budgets: dict[str, RateBudget]) -> None:
    sandbox.inject_fault("create_dm", "429_no_reset")

    with pytest.raises(RateLimited) as caught:
        await send_reply(client, private("Hi!"), budgets=budgets)

    assert caught.value.retry_after is None


@pytest.mark.parametrize(("status", "maybe"), [(500, False), (503, False), (504, True)])
async def test_server_errors_are_transient(sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget],
                                           status: int, maybe: bool) -> None:
    sandbox.inject_fault("create_dm", "5xx", status=status)

    with pytest.raises(TransientError) as caught:
        await send_reply(client, private("Hi!"), budgets=budgets)

    assert caught.value.maybe_delivered is maybe


async def test_a_connection_dropped_after_x_acted_may_have_delivered(
    sandbox: XSandbox, client: AsyncClient, budgets: dict[str, RateBudget]
) -> None:
    tweet = sandbox.customer_mentions(PAT, "hello?")
    sandbox.inject_fault("create_tweet", "drop_after")

    with pytest.raises(TransientError) as caught:
        await send_reply(client, public("Hi!", tweet["id"]), budgets=budgets)

    assert caught.value.maybe_delivered is True
    assert len(sandbox.sent_tweets()) == 1  # it was in fact posted: resending blindly would duplicate it


async def test_a_timeout_may_have_delivered(sandbox: XSandbox, client: AsyncClient,
                                            budgets: dict[str, RateBudget]) -> None:
    sandbox.inject_fault("create_dm", "slow", delay=1.0)

    with pytest.raises(TransientError) as caught:
        await send_reply(client, private("Hi!"), budgets=budgets)

    assert caught.value.maybe_delivered is True


async def test_a_refused_connection_did_not_deliver(budgets: dict[str, RateBudget]) -> None:
    client = sandbox_client(f"http://127.0.0.1:{unused_port()}")
    try:
        with pytest.raises(TransientError) as caught:
            await send_reply(client, private("Hi!"), budgets=budgets)
    finally:
        await client.session.close()

    assert caught.value.maybe_delivered is False


# --- the connector ---------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    store = await open_store(tmp_path)
    yield store
    await store.db.dispose()


def connector(sandbox: XSandbox, store: Store, **section: Any) -> XConnector:
    settings = channel_section(min_poll_interval=0.05, request_timeout=2, **section)
    return XConnector.from_config(CHANNEL, settings, ingest=store.ingest, cursors=store.cursors,
                                  base_url=sandbox.url)


async def test_the_connector_polls_sends_and_shows_its_budgets(sandbox: XSandbox, store: Store,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    for endpoint in ("mentions", "dm_events"):
        sandbox.set_rate_limit(endpoint, 100_000)
    x = connector(sandbox, store)
    tweet = sandbox.customer_mentions(PAT, "my order never arrived")
    caplog.set_level(logging.DEBUG)
    await x.start()
    try:
        await eventually(lambda: _stored(store, f"tweet:{tweet['id']}"), what="the polled mention")
        reply = OutboundReply("ob-1", CHANNEL, PAT, "Sorry Pat! Please DM us.", f"tweet:{tweet['id']}", "public",
                              f"tweet:{tweet['id']}")
        sent = await x.send(reply)
        assert sent == f"tweet:{sandbox.sent_tweets()[0]['id']}"
        status = x.status()
    finally:
        await x.stop()

    assert set(status["budgets"]) == {"mentions", "dm_events", "create_tweet", "create_dm"}
    assert status["budgets"]["mentions"]["limit"] == 100_000
    assert status["budgets"]["create_tweet"]["remaining"] == 99
    assert status["polling"] == {"mentions": "running", "dm_events": "running"}
    assert sandbox.calls("users_me")  # the credentials were checked at start
    for secret in (BEARER, CONSUMER_SECRET, "sandbox-ck", "1000-sandbox-at", "sandbox-ats"):
        assert secret not in caplog.text
    assert "<redacted>" in caplog.text  # tweepy's DEBUG lines carried them


async def test_a_token_of_another_account_does_not_start(sandbox: XSandbox, store: Store) -> None:
    x = connector(sandbox, store, user_id="2000")

    with pytest.raises(AuthError, match="belongs to user 1000, not to user_id 2000"):
        await x.start()
    assert x.client is None


async def test_an_unreachable_x_is_transient_at_start(store: Store) -> None:
    x = XConnector.from_config(CHANNEL, channel_section(), ingest=store.ingest, cursors=store.cursors,
                               base_url=f"http://127.0.0.1:{unused_port()}")

    with pytest.raises(TransientError):
        await x.start()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"user_id": "acme"}, "numeric X user id"),
        ({"consumer_secret": None}, "set consumer_secret"),
        ({"webhooks": "yes"}, "webhooks must be true or false"),
        ({"min_poll_interval": 0}, "min_poll_interval must be a positive number"),
        ({"bearer_token_env": "X_TOKEN_THAT_IS_NOT_SET"}, "environment variable X_TOKEN_THAT_IS_NOT_SET"),
    ],
)
def test_invalid_configuration_is_refused_with_a_clear_message(section: dict[str, Any], message: str) -> None:
    values = {k: v for k, v in channel_section(**section).items() if v is not None}
    if "bearer_token_env" in values:
        values.pop("bearer_token")

    with pytest.raises(XConfigError, match=message):
        XConnector.from_config(CHANNEL, values, ingest=None, cursors=None)  # type: ignore[arg-type]


def test_secrets_come_from_the_environment_and_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_X_SECRET", "from-env-secret")
    values = channel_section()
    values.pop("consumer_secret")
    values["consumer_secret_env"] = "ACME_X_SECRET"

    x = XConnector.from_config(CHANNEL, values, ingest=None, cursors=None)  # type: ignore[arg-type]

    assert x.settings.consumer_secret.reveal() == "from-env-secret"
    assert "from-env-secret" not in repr(x.settings)
    assert x.status()["budgets"]["mentions"]["current_interval_s"] == 60.0


async def _stored(store: Store, source_id: str) -> bool:
    return await store.message(source_id) is not None


